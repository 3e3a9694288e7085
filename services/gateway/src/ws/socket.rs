//! One connection's socket, read and written by the connection's single task.
//!
//! Reading: whatever the kernel has is read into a buffer on the stack of the poll
//! that reads it, and the frame reader keeps only an unfinished frame's bytes, so an
//! idle connection holds no read buffer. Writing: every frame waiting in the
//! connection's queue goes out in one vectored write (`writev`), the frames' bytes
//! shared with every other recipient of the same broadcast.
//!
//! The stream is shared (`Arc`) with the connection's handle, through which the fan-out
//! may write a frame to the socket itself while the connection is idle
//! ([`ConnectionHandle::try_push_now`]); the handle's queue lock orders those writes
//! with this task's: the handle's is a plain `send(2)` on the stream's descriptor,
//! this task's are `&TcpStream`'s `try_*` calls.

use bytes::Bytes;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::frame::{FrameReader, Incoming};
use super::registry::ConnectionHandle;
use super::upgrade::Upgrade;

/// Bytes read per system call, on the stack; a frame larger than this is kept as a
/// partial frame until its rest arrives.
const READ_CHUNK: usize = 16 * 1024;

/// Frames per vectored write (Linux's `IOV_MAX` is 1,024).
const MAX_SLICES: usize = 128;

pub(super) struct Socket {
    io: Arc<TcpStream>,
    /// What hyper read past the upgrade request: parsed before the socket is read.
    read_ahead: Bytes,
    reader: FrameReader,
    /// Frames taken from the queue, in order; `written` bytes of the first are out.
    sending: VecDeque<Bytes>,
    written: usize,
    /// The first frame of `sending` is the rest of one the fan-out began writing.
    begun: bool,
    /// Whether written frames are still accounted to the queue (not after a close).
    accounted: bool,
}

impl Socket {
    pub(super) fn new(upgrade: Upgrade) -> Self {
        Self {
            io: Arc::new(upgrade.tcp),
            // A copy: hyper's `Bytes` shares its whole read buffer (kilobytes), even
            // when empty, and would keep it for the connection's life.
            read_ahead: match upgrade.read_ahead.is_empty() {
                true => Bytes::new(),
                false => Bytes::copy_from_slice(&upgrade.read_ahead),
            },
            reader: FrameReader::default(),
            sending: VecDeque::new(),
            written: 0,
            begun: false,
            accounted: true,
        }
    }

    /// The stream, for the handle's direct writes.
    pub(super) fn stream(&self) -> Arc<TcpStream> {
        self.io.clone()
    }

    /// Whether frames taken from the queue are still being written.
    pub(super) fn writing(&self) -> bool {
        !self.sending.is_empty()
    }

    /// Read what the socket has and parse it into `out`; `Ok(false)` at end of stream.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Incoming>,
    ) -> Poll<io::Result<bool>> {
        if !self.read_ahead.is_empty() {
            let ahead = std::mem::take(&mut self.read_ahead);
            self.reader.feed(&ahead, out);
            return Poll::Ready(Ok(true));
        }
        loop {
            ready!(self.io.poll_read_ready(cx))?;
            let mut scratch = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut scratch);
            match self.io.try_read_buf(&mut buf) {
                Ok(0) => return Poll::Ready(Ok(false)),
                Ok(_) => {
                    self.reader.feed(buf.filled(), out);
                    return Poll::Ready(Ok(true));
                }
                // The readiness was stale: poll it again, which registers the waker.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Write every queued frame: `Ready` once the queue is empty, `Pending` while the
    /// socket is full (the task is woken when it drains).
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        handle: &ConnectionHandle,
    ) -> Poll<io::Result<()>> {
        if self.sending.is_empty() {
            match self
                .accounted
                .then(|| handle.take(&mut self.sending))
                .flatten()
            {
                Some(begun) => self.begun = begun,
                None => return Poll::Ready(Ok(())),
            }
        }
        loop {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, frame) in self.sending.iter().take(MAX_SLICES).enumerate() {
                let skip = if i == 0 { self.written } else { 0 };
                slices[i] = IoSlice::new(&frame[skip..]);
                count += 1;
            }
            ready!(self.io.poll_write_ready(cx))?;
            let n = match self.io.try_write_vectored(&slices[..count]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let (frames, bytes) = self.advance(n);
            if !self.accounted {
                if self.sending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            } else if self.sending.is_empty() {
                // One lock both to retire what was written and to take what came since.
                match handle.sent_then_take(frames, bytes, &mut self.sending) {
                    Some(begun) => self.begun = begun,
                    None => return Poll::Ready(Ok(())),
                }
            } else if frames > 0 {
                handle.sent(frames, bytes);
            }
        }
    }

    /// `n` more bytes went out: drop the frames they complete; returns their count and size.
    fn advance(&mut self, n: usize) -> (usize, usize) {
        let mut left = self.written + n;
        let (mut frames, mut bytes) = (0, 0);
        while let Some(front) = self.sending.front() {
            if left < front.len() {
                break;
            }
            left -= front.len();
            bytes += front.len();
            frames += 1;
            self.sending.pop_front();
            self.begun = false;
        }
        self.written = left;
        (frames, bytes)
    }

    /// The closing handshake: finish the frame being written (the stream must stay
    /// framed), drop the frames that have not started, send `close`; if the server
    /// closes, wait for the client's close frame, reading past anything else it sends so
    /// that unread bytes do not turn the close into a reset; then end the stream.
    pub(super) async fn goodbye(&mut self, handle: &ConnectionHandle, close: Bytes, linger: bool) {
        // No more direct writes; a frame the fan-out began must be finished too.
        handle.detach();
        if self.sending.is_empty() {
            self.begun = handle.take(&mut self.sending).unwrap_or(false);
        }
        self.accounted = false;
        self.sending
            .truncate(usize::from(self.written > 0 || self.begun));
        self.sending.push_back(close);
        if poll_fn(|cx| self.poll_write(cx, handle)).await.is_err() {
            return;
        }
        if linger && self.reader.close() {
            let mut events = Vec::new();
            while let Ok(true) = poll_fn(|cx| self.poll_read(cx, &mut events)).await {
                if events.contains(&Incoming::Close) {
                    break;
                }
                events.clear();
            }
        }
        // Detached above, so this task holds the only reference.
        if let Some(tcp) = Arc::get_mut(&mut self.io) {
            let _ = tcp.shutdown().await;
        }
    }
}
