//! A connection the server closes normally (`DELETE @connections/{id}`, close 1000) is
//! not reconnected, like Socket.IO's "io server disconnect".

mod common;

use common::{SdkClients, TestGateway, WAIT, next};
use futures::StreamExt;
use roomcast_sdk::{Error, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `DELETE /dev/@connections/{id}` over a raw socket; returns the status.
async fn delete_connection(port: u16, id: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "DELETE /dev/@connections/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response)[9..12].parse().unwrap()
}

#[tokio::test]
async fn a_connection_deleted_by_the_server_is_not_reconnected() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &[]).await;
    let a = gw.client("alpha").await;
    let mut events = a.events();
    assert_eq!(delete_connection(gw.port, a.id().as_str()).await, 204);
    next(&mut events, "Disconnected", |e| {
        matches!(e, Event::Disconnected).then_some(())
    })
    .await;
    // No reconnect: the stream ends and the client is closed.
    let rest: Vec<Event> = tokio::time::timeout(WAIT, events.collect())
        .await
        .expect("the stream ends");
    assert!(
        !rest.iter().any(|e| matches!(e, Event::Reconnected)),
        "{rest:?}"
    );
    assert!(a.is_closed());
    assert!(matches!(a.join("alpha").await, Err(Error::Closed)));
    gw.stop().await;
}
