//! tokio-websockets: one task per connection reading the stream and writing the
//! room's messages.
//!
//! What it can share: the payload (`Bytes`); each connection encodes a header of its
//! own per frame and queues header and payload side by side, and a flush writes the
//! queue with one vectored write, as the gateway does. It has one limit for frames and
//! messages alike (`max_payload_len`, set to 32 KiB; the others allow 128 KiB messages
//! in fragments). A frame over it is refused from its header and the crate queues the
//! 1009 close itself; `close()` writes it and shuts the stream down.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use roomcast_core::protocol::limits::MAX_FRAME_BYTES;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{Receiver, Sender, error::RecvError};
use tokio_websockets::{Limits, Message, Payload, ServerBuilder};

pub async fn serve(stream: TcpStream, room: Sender<Bytes>, mut cursor: Receiver<Bytes>) {
    let server =
        ServerBuilder::new().limits(Limits::default().max_payload_len(Some(MAX_FRAME_BYTES)));
    let Ok((_request, mut ws)) = server.accept(stream).await else {
        return;
    };
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(message)) if message.is_text() => {
                    let _ = room.send(Bytes::from(message.into_payload()));
                }
                // Pongs are queued by the crate and written by the next flush.
                Some(Ok(message)) if !message.is_close() => {}
                // The client's close (answered by the crate), a refused frame (1009
                // queued by the crate) or the end of the stream.
                _ => {
                    let _ = ws.close().await;
                    return;
                }
            },
            message = cursor.recv() => match message {
                Ok(payload) => {
                    if ws.feed(Message::text(Payload::from(payload))).await.is_err() {
                        return;
                    }
                    tokio::task::yield_now().await;
                    while let Ok(payload) = cursor.try_recv() {
                        if ws.feed(Message::text(Payload::from(payload))).await.is_err() {
                            return;
                        }
                    }
                    if ws.flush().await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        }
    }
}
