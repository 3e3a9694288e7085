//! roomcast's own frames: the gateway's `ws::frame` (the reader that keeps only an
//! unfinished frame, the server frames encoded once), driven the way the gateway's
//! `ws/socket.rs` drives it on hyper's upgraded stream: read into a buffer on the stack
//! of a plain function (never held across an await, so never in the task), write every
//! waiting frame in one `writev`, and after a violation send the close and read past
//! anything else until the client's close, so the close stays clean.
//!
//! The room carries the encoded frame: one allocation per broadcast, shared by every
//! connection's write.

use bytes::Bytes;
use roomcast_gateway::ws::frame::{self, FrameReader, Incoming, Violation};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{Receiver, Sender, error::RecvError};

/// Bytes read per system call (the gateway's `READ_CHUNK`).
const READ_CHUNK: usize = 16 * 1024;
/// Frames per vectored write (the gateway's `MAX_SLICES`).
const MAX_SLICES: usize = 128;
/// How long the server waits for the client's close frame after its own.
const LINGER: Duration = Duration::from_secs(5);

struct Connection {
    stream: TcpStream,
    reader: FrameReader,
    /// Frames to write, in order; `written` bytes of the first are out.
    out: VecDeque<Bytes>,
    written: usize,
}

pub async fn serve(stream: TcpStream, room: Sender<Bytes>, mut cursor: Receiver<Bytes>) {
    let Ok(stream) = super::handshake::accept(stream).await else {
        return;
    };
    let mut c = Connection {
        stream,
        reader: FrameReader::default(),
        out: VecDeque::new(),
        written: 0,
    };
    let mut events = Vec::new();
    loop {
        tokio::select! {
            ready = c.stream.readable() => {
                if ready.is_err() {
                    return;
                }
                match c.read(&mut events) {
                    Ok(true) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Ok(false) | Err(_) => return,
                }
                for event in std::mem::take(&mut events) {
                    match event {
                        Incoming::Text(text) => {
                            let _ = room.send(frame::text(text.as_bytes()));
                        }
                        Incoming::Ping(payload) => c.out.push_back(frame::pong(&payload)),
                        Incoming::Binary | Incoming::Pong => {}
                        Incoming::Close => return c.goodbye(frame::close(1000, ""), false).await,
                        Incoming::Violation(v) => {
                            let (code, reason) = match v {
                                Violation::TooBig => (1009, "message too big"),
                                Violation::BadUtf8 => (1007, "text frame is not valid UTF-8"),
                                Violation::Protocol => (1002, "protocol error"),
                            };
                            return c.goodbye(frame::close(code, reason), true).await;
                        }
                    }
                }
            }
            message = cursor.recv() => match message {
                Ok(frame) => {
                    c.out.push_back(frame);
                    // As the gateway: let the rest of the broadcast pile up, then one write.
                    tokio::task::yield_now().await;
                    while let Ok(frame) = cursor.try_recv() {
                        c.out.push_back(frame);
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        }
        if c.flush().await.is_err() {
            return;
        }
    }
}

impl Connection {
    /// Read what the socket has into a stack buffer and parse it; `Ok(false)` at EOF.
    fn read(&mut self, out: &mut Vec<Incoming>) -> io::Result<bool> {
        let mut buf = [0u8; READ_CHUNK];
        let n = self.stream.try_read(&mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        self.reader.feed(&buf[..n], out);
        Ok(true)
    }

    /// Write every waiting frame, a `writev` at a time.
    async fn flush(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            match self.try_write() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stream.writable().await?,
                other => other?,
            }
        }
        Ok(())
    }

    /// One vectored write of the waiting frames (the slices live only in this call).
    fn try_write(&mut self) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (i, frame) in self.out.iter().take(MAX_SLICES).enumerate() {
            let skip = if i == 0 { self.written } else { 0 };
            slices[i] = IoSlice::new(&frame[skip..]);
            count += 1;
        }
        let n = self.stream.try_write_vectored(&slices[..count])?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut left = self.written + n;
        while let Some(front) = self.out.front() {
            if left < front.len() {
                break;
            }
            left -= front.len();
            self.out.pop_front();
        }
        self.written = left;
        Ok(())
    }

    /// Send `close`; if the server closes (`linger`), read past anything the client
    /// still sends until its close frame, so that unread bytes do not turn the close
    /// into a reset; then end the stream.
    async fn goodbye(&mut self, close: Bytes, linger: bool) {
        self.out.push_back(close);
        if self.flush().await.is_err() {
            return;
        }
        if linger && self.reader.close() {
            let _ = tokio::time::timeout(LINGER, self.until_close()).await;
        }
        let _ = self.stream.shutdown().await;
    }

    async fn until_close(&mut self) {
        let mut events = Vec::new();
        loop {
            if self.stream.readable().await.is_err() {
                return;
            }
            match self.read(&mut events) {
                Ok(true) if events.contains(&Incoming::Close) => return,
                Ok(true) => events.clear(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(false) | Err(_) => return,
            }
        }
    }
}
