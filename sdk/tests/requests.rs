//! Requests carry a `ref` and resolve on their `ack` (with the version) or fail with the
//! server's error code; bad arguments never leave the client; silence times out.

mod common;

use common::{SdkClients, TestGateway, next};
use roomcast_sdk::protocol::limits::MAX_FRAME_BYTES;
use roomcast_sdk::{Client, Error, ErrorCode, Event, IconId, Ref, ServerMessage, background, icon};
use serde_json::json;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn server_code(result: Result<impl std::fmt::Debug, Error>) -> (ErrorCode, Option<Ref>) {
    match result {
        Err(Error::Server(e)) => (e.code, e.reference),
        other => panic!("expected the server's error, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_resolve_on_their_ack_or_fail_with_the_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(dir.path(), 0, &["--icon-cap", "2"]).await;
    let a = gw.client("alpha").await;
    let mut events = a.events();

    let base = a.join("alpha").await.unwrap();
    assert_eq!(base.version, 0);

    // add_icon resolves with the version and the new id, both from the ack.
    let added = a
        .add_icon("alpha", icon(3, 399.6, 400.0).unwrap())
        .await
        .unwrap();
    assert_eq!(added.version, 1);
    let id = added.id.clone();
    let moved = a
        .move_icon("alpha", &id, icon(4, 10.0, 20.0).unwrap())
        .await
        .unwrap();
    assert_eq!(moved, 2);
    // The ack on the stream carries the request's ref and the version.
    let reference = next(&mut events, "the ack of version 2", |e| match e {
        Event::Message(ServerMessage::Ack {
            reference,
            version: Some(2),
            ..
        }) => Some(reference.clone()),
        _ => None,
    })
    .await;
    assert!(matches!(reference, Ref::Number(_)));

    // Refusals keep the server's code and echo the request's ref.
    let ghost = IconId::generate();
    let (code, reference) = server_code(
        a.move_icon("alpha", &ghost, icon(1, 0.0, 0.0).unwrap())
            .await,
    );
    assert_eq!(code, ErrorCode::UnknownIcon);
    assert!(matches!(reference, Some(Ref::Number(_))));
    let (code, _) = server_code(a.delete_icon("alpha", &ghost).await);
    assert_eq!(code, ErrorCode::UnknownIcon);
    a.add_icon("alpha", icon(5, 1.0, 1.0).unwrap())
        .await
        .unwrap();
    let (code, _) = server_code(a.add_icon("alpha", icon(6, 1.0, 1.0).unwrap()).await);
    assert_eq!(code, ErrorCode::IconLimit);
    let err = a
        .add_icon("alpha", icon(6, 1.0, 1.0).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::IconLimit));

    // Refused requests changed nothing.
    let state = a.get_state("alpha").await.unwrap();
    assert_eq!(state.version, 3);
    assert_eq!(state.state.icons[&id], icon(4, 10.0, 20.0).unwrap());
    assert_eq!(a.delete_icon("alpha", &id).await.unwrap(), 4);
    assert_eq!(
        a.change_background("alpha", background(31).unwrap())
            .await
            .unwrap(),
        5
    );

    // Changing and reading a room need no membership; the ack names the new icon.
    let elsewhere = a
        .add_icon("beta", icon(1, 2.0, 3.0).unwrap())
        .await
        .unwrap();
    assert_eq!(elsewhere.version, 1);
    let beta = a.get_state("beta").await.unwrap();
    assert_eq!(beta.version, 1);
    assert_eq!(beta.state.icons[&elsewhere.id], icon(1, 2.0, 3.0).unwrap());
    assert!(a.state("beta").is_none(), "not kept: not a member");

    // Arguments that break the protocol's rules are refused before sending.
    assert!(matches!(a.join("no spaces").await, Err(Error::Invalid(_))));
    assert!(matches!(
        a.to("alpha").emit("bad event!", json!(null)).await,
        Err(Error::Invalid(_))
    ));
    let big = "x".repeat(MAX_FRAME_BYTES);
    assert!(matches!(
        a.to("alpha").emit("big", json!({"text": big})).await,
        Err(Error::FrameTooLarge {
            max: MAX_FRAME_BYTES,
            ..
        })
    ));
    // ...and the connection is still fine.
    a.to("alpha")
        .emit("small", json!({"text": "x".repeat(16 * 1024)}))
        .await
        .unwrap();
    a.close().await;
    gw.stop().await;
}

#[tokio::test]
async fn refused_upgrades_keep_the_status_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let gw = TestGateway::start_in(
        dir.path(),
        0,
        &["--jwt-secret", "0123456789abcdef0123456789abcdef"],
    )
    .await;
    match Client::connect(gw.ws_url(None)).room("alpha").await {
        Err(Error::Rejected { status, code, .. }) => {
            assert_eq!((status, code), (401, Some(ErrorCode::Unauthorized)));
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    match Client::connect(gw.ws_url(None)).room("bad room").await {
        Err(Error::Invalid(_)) => {}
        other => panic!("expected a client-side refusal, got {other:?}"),
    }
    gw.stop().await;
}

/// The handshake callback's error type is tungstenite's (large) error response.
#[allow(clippy::result_large_err)]
fn select_v1(v1: bool) -> impl FnOnce(&Request, Response) -> Result<Response, ErrorResponse> {
    move |_, mut response| {
        if v1 {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("roomcast.v1"),
            );
        }
        Ok(response)
    }
}

/// A WebSocket server that completes the handshake (selecting `roomcast.v1` when
/// `v1`), sends the `welcome` a `roomcast.v1` server opens with, and then never
/// answers anything.
async fn silent_server(v1: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/dev", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let select = select_v1(v1);
                if let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, select).await {
                    use futures::{SinkExt, StreamExt};
                    let welcome = json!({"type": "welcome", "id": "c0000000000001", "user": "anonymous:c0000000000001",
                        "limits": {"maxRooms": 10, "maxEmitBytes": 1, "maxFrameBytes": 1, "messageRate": 0,
                            "messageBurst": 0, "historySize": 0, "historySeconds": 0}});
                    let _ = ws.send(welcome.to_string().into()).await;
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_request_without_an_answer_times_out() {
    let url = silent_server(true).await;
    let timeout = Duration::from_millis(300);
    let client = Client::connect(url).request_timeout(timeout).await.unwrap();
    let started = tokio::time::Instant::now();
    match client
        .change_background("alpha", background(1).unwrap())
        .await
    {
        Err(Error::Timeout(t)) => assert_eq!(t, timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= timeout);
    assert!(started.elapsed() < common::WAIT);
    client.close().await;
}

#[tokio::test]
async fn a_server_that_does_not_speak_roomcast_v1_is_refused() {
    let url = silent_server(false).await;
    assert!(matches!(
        Client::connect(url).await,
        Err(Error::Subprotocol)
    ));
}
