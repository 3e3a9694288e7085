//! fastwebsockets (with its `unstable-split` halves): one task per connection.
//!
//! Its `read_frame` is not cancel-safe (a header half parsed is lost), so it cannot be
//! raced against the room in a `select!` directly; the read half is turned into a
//! stream whose pending read survives between polls. Its reader keeps an 8 KiB buffer
//! per connection from the start and grows it to the largest frame read.
//!
//! What it can share: the payload (a frame borrows the room's `Bytes`); each frame is
//! written on its own (header and payload copied into the connection's write buffer
//! for payloads up to 1 KiB, a `writev` of the two above that): the API has no way to
//! queue several frames for one write without a buffer of the caller's. A frame over
//! the limit (`max_message_size`, which it checks per frame) is refused from its
//! header; the server then sends 1009 and closes, the rest of the frame unread.

use bytes::Bytes;
use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, Role, WebSocket, WebSocketError,
};
use futures::StreamExt;
use roomcast_core::protocol::limits::MAX_FRAME_BYTES;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{Receiver, Sender, error::RecvError};

/// What a read gave, owned (so it can leave the read's future).
enum Received {
    Text(Bytes),
    Ping(Vec<u8>),
    Close,
    Other,
}

impl From<Frame<'_>> for Received {
    fn from(frame: Frame<'_>) -> Self {
        match frame.opcode {
            OpCode::Text => Received::Text(match frame.payload {
                Payload::Bytes(bytes) => bytes.freeze(),
                Payload::Owned(vec) => Bytes::from(vec),
                other => Bytes::copy_from_slice(&other),
            }),
            OpCode::Ping => Received::Ping(frame.payload.to_vec()),
            OpCode::Close => Received::Close,
            _ => Received::Other,
        }
    }
}

pub async fn serve(stream: TcpStream, room: Sender<Bytes>, mut cursor: Receiver<Bytes>) {
    let Ok(stream) = super::handshake::accept(stream).await else {
        return;
    };
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    // It refuses a frame whose length is at least this.
    ws.set_max_message_size(MAX_FRAME_BYTES + 1);
    // Answered below: the split read half could only answer through a callback.
    ws.set_auto_close(false);
    ws.set_auto_pong(false);
    let (read, mut write) = ws.split(TcpStream::into_split);
    let frames = futures::stream::unfold(FragmentCollectorRead::new(read), |mut read| async move {
        let mut no_obligated_sends =
            |_: Frame<'static>| async { Ok::<(), std::convert::Infallible>(()) };
        let frame = read.read_frame(&mut no_obligated_sends).await;
        Some((frame.map(Received::from), read))
    });
    let mut frames = std::pin::pin!(frames);
    loop {
        tokio::select! {
            received = frames.next() => match received {
                Some(Ok(Received::Text(text))) => {
                    let _ = room.send(text);
                }
                Some(Ok(Received::Ping(payload))) => {
                    let pong = Frame::new(true, OpCode::Pong, None, payload.into());
                    if write.write_frame(pong).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Received::Other)) => {}
                Some(Ok(Received::Close)) => {
                    let _ = write.write_frame(Frame::close(1000, b"")).await;
                    return;
                }
                Some(Err(WebSocketError::FrameTooLarge)) => {
                    let _ = write.write_frame(Frame::close(1009, b"message too big")).await;
                    return;
                }
                Some(Err(_)) | None => return,
            },
            message = cursor.recv() => match message {
                Ok(payload) => {
                    if write.write_frame(Frame::text(Payload::Borrowed(&payload))).await.is_err() {
                        return;
                    }
                    tokio::task::yield_now().await;
                    while let Ok(payload) = cursor.try_recv() {
                        let frame = Frame::text(Payload::Borrowed(&payload));
                        if write.write_frame(frame).await.is_err() {
                            return;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        }
    }
}
