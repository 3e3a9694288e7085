//! The HTTP/1.1 upgrade (RFC 6455 §4.2) for the two servers that do not bring their
//! own on a bare TCP stream: roomcast's frames (the gateway leaves it to hyper) and
//! fastwebsockets (whose upgrade needs hyper). The same few lines for both, and the
//! request buffer is freed before the connection is served, so it costs an idle
//! connection nothing; tungstenite and tokio-websockets use their own `accept`.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// Read the upgrade request, answer `101`; the stream then carries frames. The client
/// sends nothing before the `101`, so nothing past the head is read here.
pub async fn accept(mut stream: TcpStream) -> io::Result<TcpStream> {
    let mut head = Vec::with_capacity(1024);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || stream.read_buf(&mut head).await? == 0 {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
    let key = websocket_key(&head).ok_or(io::ErrorKind::InvalidData)?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    stream.write_all(response.as_bytes()).await?;
    Ok(stream)
}

/// The `Sec-WebSocket-Key` of a request head.
fn websocket_key(head: &[u8]) -> Option<&[u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        name.eq_ignore_ascii_case(b"sec-websocket-key")
            .then(|| value[1..].trim_ascii())
    })
}

/// `Sec-WebSocket-Accept`: base64(SHA-1(key + the RFC's GUID)).
fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::default();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_key_and_answers_the_rfc_example() {
        let head = b"GET /?room=a HTTP/1.1\r\nHost: x\r\nsec-websocket-KEY:  dGhlIHNhbXBsZSBub25jZQ== \r\n\r\n";
        let key = websocket_key(head).unwrap();
        assert_eq!(key, b"dGhlIHNhbXBsZSBub25jZQ==");
        // RFC 6455 §1.3.
        assert_eq!(accept_key(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(websocket_key(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
    }
}
