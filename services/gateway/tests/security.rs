//! Security of the local gateway: a token's `rooms` claim refuses every room action
//! outside it (the same cases as the AWS handler test in services/aws/tests/abuse.rs),
//! and the real `roomcast` binary logs no secret: not the JWT secret, not the API key,
//! not a token, not a guessed key.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roomcast_testkit::{TestGateway, WsClient, exp, hs};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const SECRET: &str = "gateway-log-secret-5be1d0";
const API_KEY: &str = "gateway-api-key-93c2aa";

#[tokio::test]
async fn a_token_limited_to_alpha_can_neither_join_read_change_nor_emit_elsewhere() {
    let gw = TestGateway::start(&["--jwt-secret", SECRET]).await;
    let open = hs(json!({"sub":"bob","exp":exp(600)}), SECRET);
    let mut bob = WsClient::connect(
        &format!("{}&token={open}", gw.ws_url(Some("beta"))),
        Some("roomcast.v1"),
    )
    .await;
    let (_, others) = bob
        .request(json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1}}))
        .await;
    let mut patch = others.into_iter().find(|m| m["type"] == "patch");
    if patch.is_none() {
        patch = Some(bob.recv_type("patch").await);
    }
    let icon = patch.unwrap()["op"]["addIcon"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let token = hs(
        json!({"sub":"ada","exp":exp(600),"rooms":["alpha"]}),
        SECRET,
    );
    let mut ada = WsClient::connect(
        &format!("{}&token={token}", gw.ws_url(Some("alpha"))),
        Some("roomcast.v1"),
    )
    .await;
    for frame in [
        json!({"action":"join","room":"beta"}),
        json!({"action":"getState","room":"beta"}),
        json!({"action":"changeBackground","room":"beta","bg":2}),
        json!({"action":"addIcon","room":"beta","icon":{"img":1,"x":1,"y":1}}),
        json!({"action":"moveIcon","room":"beta","icon":{"id":icon,"img":2,"x":9,"y":9}}),
        json!({"action":"deleteIcon","room":"beta","id":icon}),
        json!({"action":"emit","room":"beta","event":"x","data":1}),
    ] {
        let (reply, others) = ada.request(frame.clone()).await;
        assert_eq!(reply["code"], "forbidden", "{frame}: {reply}");
        assert!(
            others.iter().all(|m| m["room"] != "beta"),
            "{frame}: {others:?}"
        );
    }
    // beta is untouched: version 1 with bob's icon where he put it, one member, and
    // bob heard nothing from ada.
    let heard = bob.drain(Duration::from_millis(300)).await;
    assert!(heard.is_empty(), "{heard:?}");
    let ack = bob.ok(json!({"action":"getState","room":"beta"})).await;
    assert_eq!(ack["version"], 1);
    let state = bob.recv_type("state").await;
    assert_eq!(state["state"]["icons"][&icon]["x"], 1);
    bob.ok(json!({"action":"listRooms"})).await;
    let rooms = bob.recv_type("rooms").await;
    let beta = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == "beta")
        .cloned();
    assert_eq!(beta, Some(json!({"room":"beta","members":1,"users":1})));
    gw.stop().await;
}

/// A handshake with `token` in the query or the `Authorization` header; the status.
async fn handshake(port: u16, room: &str, query: Option<&str>, bearer: Option<&str>) -> u16 {
    let mut url = format!("ws://127.0.0.1:{port}/dev?room={room}");
    if let Some(t) = query {
        url.push_str(&format!("&token={t}"));
    }
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("roomcast.v1"),
    );
    if let Some(t) = bearer {
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, response)) => {
            use futures::SinkExt;
            ws.send(tokio_tungstenite::tungstenite::Message::text(
                r#"{"action":"listRooms","ref":1}"#,
            ))
            .await
            .unwrap();
            let _ = ws.close(None).await;
            response.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_no_secret_key_or_token_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomcast"))
        .args(["--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("JWT_SECRET", SECRET)
        .env("ROOMCAST_API_KEY", API_KEY)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the roomcast binary starts");
    let logs = Arc::new(Mutex::new(String::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let mut readers = vec![];
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let logs = logs.clone();
        let port_tx = port_tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("game at http://127.0.0.1:").nth(1) {
                    let port: u16 = rest.split('/').next().unwrap().parse().unwrap();
                    let _ = port_tx.send(port);
                }
                let mut all = logs.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        }));
    }
    drop(port_tx);
    let port = port_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary logs its port");

    let good = hs(
        json!({"sub":"ada","exp":exp(600),"rooms":["alpha"]}),
        SECRET,
    );
    let expired = hs(json!({"sub":"ada","exp":exp(-600)}), SECRET);
    let forged = hs(json!({"sub":"eve","exp":exp(600)}), "not-the-secret");
    let guess = "guessed-api-key-0f0f";
    assert_eq!(handshake(port, "alpha", Some(&good), None).await, 101);
    assert_eq!(handshake(port, "alpha", None, Some(&good)).await, 101);
    assert_eq!(handshake(port, "beta", Some(&good), None).await, 403);
    assert_eq!(handshake(port, "alpha", Some(&expired), None).await, 401);
    assert_eq!(handshake(port, "alpha", None, Some(&forged)).await, 401);
    assert_eq!(handshake(port, "alpha", None, None).await, 401);
    for (path, key, want) in [
        ("/rooms/alpha/emit", Some(API_KEY), 202),
        ("/rooms/alpha/emit", Some(guess), 401),
        ("/rooms/alpha/emit", None, 401),
        ("/dev/@connections/nobody", Some(guess), 403),
        ("/dev/@connections/nobody", Some(API_KEY), 410),
    ] {
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
        assert_eq!(
            roomcast_testkit::http_at(
                port,
                "POST",
                path,
                &headers,
                r#"{"event":"news","data":{"n":1}}"#
            )
            .await
            .0,
            want,
            "{path} {key:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    let logs = logs.lock().unwrap().clone();
    assert!(logs.contains("connect tokens required"), "{logs}");
    assert!(logs.contains("connect refused"), "refusals are logged");
    for (what, text) in [
        ("the JWT secret", SECRET),
        ("the API key", API_KEY),
        ("a guessed key", guess),
    ] {
        assert!(!logs.contains(text), "{what} is in the logs");
    }
    for token in [&good, &expired, &forged] {
        // Each part of a token on its own: the signature is the secret-derived part,
        // and the claims part names the holder.
        for part in token.split('.').skip(1) {
            assert!(!logs.contains(part), "a token is in the logs");
        }
    }
}
