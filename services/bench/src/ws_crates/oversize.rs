//! The oversize frame: a client sends one text frame over the 32 KiB limit and reads
//! what comes back. Raw TCP, no WebSocket library on this side, so that nothing
//! between the socket and the verdict buffers, retries or hides a reset.
//!
//! The client sends the frame in one write, then reads; when a close frame arrives it
//! answers with its own close (as a browser does) and reads on until the stream ends.
//! The verdict is the close code seen (if any) and how the stream ended: a FIN after
//! the close is clean; a reset means the client may never see the close at all (the
//! kernel drops unread data on a reset), which is what issue 13 ruled out.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the client waits for the server's answer and then for the end.
const PATIENCE: Duration = Duration::from_secs(5);
/// The client's mask key (any will do).
const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// How the stream ended on the client's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Read returned 0: the server's FIN.
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing more within [`PATIENCE`].
    Timeout,
}

/// What the server did with the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A close frame with this code, then the end of the stream (FIN).
    Clean(u16),
    /// A close frame with this code, then a reset.
    CloseThenReset(u16),
    /// A close frame with this code, and the stream still open after [`PATIENCE`].
    CloseNoEnd(u16),
    /// A reset, no close frame.
    Reset,
    /// The end of the stream, no close frame.
    EofWithoutClose,
    /// The frame was taken: relayed back whole.
    Accepted,
    /// No answer within [`PATIENCE`].
    Silence,
}

impl Verdict {
    pub fn label(self) -> String {
        match self {
            Verdict::Clean(code) => format!("clean {code}"),
            Verdict::CloseThenReset(code) => format!("{code}, then reset"),
            Verdict::CloseNoEnd(code) => format!("{code}, stream left open"),
            Verdict::Reset => "reset, no close frame".to_owned(),
            Verdict::EofWithoutClose => "FIN, no close frame".to_owned(),
            Verdict::Accepted => "accepted".to_owned(),
            Verdict::Silence => "no answer".to_owned(),
        }
    }
}

/// What the server's bytes say: the first close frame's code (1005 if it has none),
/// or `Accepted` for a text frame over `limit`; `None` while neither has arrived.
fn answer(received: &[u8], limit: usize) -> Option<Verdict> {
    let mut at = 0;
    loop {
        let rest = &received[at..];
        let (b0, b1) = (*rest.first()?, *rest.get(1)?);
        let (len, head): (usize, usize) = match b1 & 0x7F {
            126 => (
                u16::from_be_bytes(rest.get(2..4)?.try_into().ok()?) as usize,
                4,
            ),
            127 => (
                u64::from_be_bytes(rest.get(2..10)?.try_into().ok()?) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let payload = rest.get(head..head.checked_add(len)?)?;
        match b0 & 0x0F {
            0x8 => {
                let code = payload
                    .get(..2)
                    .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                return Some(Verdict::Clean(code));
            }
            0x1 if len > limit => return Some(Verdict::Accepted),
            _ => at += head + len,
        }
    }
}

/// The verdict from everything received and how the stream ended.
pub fn judge(received: &[u8], limit: usize, end: End) -> Verdict {
    match (answer(received, limit), end) {
        (Some(Verdict::Clean(code)), End::Eof) => Verdict::Clean(code),
        (Some(Verdict::Clean(code)), End::Reset) => Verdict::CloseThenReset(code),
        (Some(Verdict::Clean(code)), End::Timeout) => Verdict::CloseNoEnd(code),
        (Some(other), _) => other,
        (None, End::Eof) => Verdict::EofWithoutClose,
        (None, End::Reset) => Verdict::Reset,
        (None, End::Timeout) => Verdict::Silence,
    }
}

/// A masked client frame.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i & 3]));
    frame
}

/// Connect, upgrade, send a text frame of `bytes`, and judge the answer against
/// `limit` (the servers' frame limit).
pub async fn probe(port: u16, bytes: usize, limit: usize) -> anyhow::Result<Verdict> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(
            b"GET /?room=oversize HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await?;
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        anyhow::ensure!(
            stream.read_buf(&mut received).await? > 0,
            "no upgrade answer"
        );
    };
    anyhow::ensure!(received.starts_with(b"HTTP/1.1 101"), "upgrade refused");
    received.drain(..head_end);

    // The server may close (and even reset) before the whole frame is written.
    let _ = stream
        .write_all(&client_frame(0x1, &vec![b'a'; bytes]))
        .await;
    let mut answered = false;
    let end = loop {
        let mut chunk = vec![0u8; 64 * 1024];
        match tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await {
            Err(_) => break End::Timeout,
            Ok(Ok(0)) => break End::Eof,
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) if is_reset(&e) => break End::Reset,
            Ok(Err(e)) => return Err(e.into()),
        }
        match answer(&received, limit) {
            Some(Verdict::Clean(code)) if !answered => {
                answered = true;
                let _ = stream
                    .write_all(&client_frame(0x8, &code.to_be_bytes()))
                    .await;
            }
            Some(Verdict::Accepted) => return Ok(Verdict::Accepted),
            _ => {}
        }
    };
    Ok(judge(&received, limit, end))
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
#[path = "oversize_tests.rs"]
mod tests;
