//! Engine.IO v4 and Socket.IO v5 packet framing over WebSocket text frames: just what
//! a Socket.IO client in the default namespace needs, so that one tokio-websockets
//! client stack drives both servers.
//!
//! Over the `websocket` transport each WebSocket frame is one Engine.IO packet: a
//! type digit, then the data. The Socket.IO packet rides in an Engine.IO `message`
//! (`4`): another type digit, then JSON.
//!
//! | frame | meaning |
//! | --- | --- |
//! | `0{"sid":..,"pingInterval":25000,"pingTimeout":20000,..}` | server: Engine.IO open |
//! | `40` | client: Socket.IO connect to the default namespace `/` |
//! | `40{"sid":".."}` | server: connected |
//! | `44{"message":".."}` | server: connect refused |
//! | `2` / `3` | server ping / client pong (Engine.IO v4: the server pings) |
//! | `42["name",arg,..]` | an event, either way |
//! | `1` | close |

use anyhow::{Context, bail};

/// The Engine.IO `open` packet's handshake data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    pub sid: String,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    pub ping_timeout: u64,
}

/// The path and query of the Engine.IO WebSocket endpoint (`room` is ours: the peer
/// server joins the socket to it in its connection handler).
pub fn path(room: Option<&str>) -> String {
    match room {
        Some(room) => format!("/socket.io/?EIO=4&transport=websocket&room={room}"),
        None => "/socket.io/?EIO=4&transport=websocket".to_owned(),
    }
}

/// Client → server: connect to the default namespace.
pub const CONNECT: &str = "40";
/// Client → server: the answer to a ping.
pub const PONG: &str = "3";

/// Parse the server's first frame, `0{...}`.
pub fn parse_open(frame: &str) -> anyhow::Result<Open> {
    let json = frame
        .strip_prefix('0')
        .with_context(|| format!("expected an Engine.IO open packet, got {frame:.80?}"))?;
    serde_json::from_str(json).context("Engine.IO open packet")
}

/// Whether `frame` is the Socket.IO connect acknowledgement `40{...}`; an error for a
/// refusal `44{...}`.
pub fn is_connected(frame: &str) -> anyhow::Result<bool> {
    if let Some(why) = frame.strip_prefix("44") {
        bail!("Socket.IO connect refused: {why}");
    }
    Ok(frame.starts_with("40"))
}

/// Whether `frame` is the server's ping.
pub fn is_ping(frame: &str) -> bool {
    frame == "2"
}

/// `42["name",arg1,arg2,..]` with each argument already JSON.
pub fn event(name: &str, args: &[&str]) -> String {
    let mut frame =
        String::with_capacity(8 + name.len() + args.iter().map(|a| a.len() + 1).sum::<usize>());
    frame.push_str("42[");
    frame.push_str(&serde_json::Value::from(name).to_string());
    for arg in args {
        frame.push(',');
        frame.push_str(arg);
    }
    frame.push(']');
    frame
}

/// The JSON array of an event frame (`["name",..]`), if `frame` is one.
pub fn event_body(frame: &str) -> Option<&str> {
    frame.strip_prefix("42")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_packet() {
        let open = parse_open(
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(open.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!((open.ping_interval, open.ping_timeout), (25000, 20000));
        assert!(parse_open("40").is_err());
    }

    #[test]
    fn connect_ack_and_refusal() {
        assert!(is_connected(r#"40{"sid":"wZX3oN0bSVIhsaknAAAI"}"#).unwrap());
        assert!(!is_connected("2").unwrap());
        assert!(is_connected(r#"44{"message":"Not authorized"}"#).is_err());
    }

    #[test]
    fn events() {
        assert_eq!(
            event("publish", &[r#""bench""#, r#"{"a":1}"#]),
            r#"42["publish","bench",{"a":1}]"#
        );
        assert_eq!(event_body(r#"42["m",{"a":1}]"#), Some(r#"["m",{"a":1}]"#));
        assert_eq!(event_body("3"), None);
        assert!(is_ping("2") && !is_ping("3"));
    }

    #[test]
    fn paths() {
        assert_eq!(
            path(Some("bench")),
            "/socket.io/?EIO=4&transport=websocket&room=bench"
        );
        assert_eq!(path(None), "/socket.io/?EIO=4&transport=websocket");
    }
}
