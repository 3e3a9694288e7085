//! tokio-tungstenite (tungstenite underneath), as the gateway used it through axum
//! until issue 13: one task per connection reading the stream and writing the room's
//! messages.
//!
//! What it can share: the payload (`Utf8Bytes`, reference-counted), not the frame:
//! tungstenite copies header and payload into the connection's write buffer. The
//! waiting messages are fed without flushing and flushed once, so they go out in one
//! write as the gateway's `writev` does. On a frame over the limit its stream ends
//! (tokio-tungstenite returns nothing after an error), so the server sends 1009 and
//! closes without waiting for the client's close, as the gateway did then.

use futures::{SinkExt, StreamExt};
use roomcast_core::protocol::limits::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use tokio::net::TcpStream;
use tokio::sync::broadcast::{Receiver, Sender, error::RecvError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

/// `read_buffer`: `None` for tungstenite's default (128 KiB), else that many bytes.
pub async fn serve(
    stream: TcpStream,
    room: Sender<Utf8Bytes>,
    mut cursor: Receiver<Utf8Bytes>,
    read_buffer: Option<usize>,
) {
    let mut config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_MESSAGE_BYTES));
    if let Some(bytes) = read_buffer {
        config = config.read_buffer_size(bytes);
    }
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let _ = room.send(text);
                }
                // Its answer (and a pong) is queued by tungstenite and written by the
                // next flush.
                Some(Ok(Message::Close(_))) | None => {
                    let _ = ws.flush().await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(Error::Capacity(_))) => {
                    let close = CloseFrame {
                        code: CloseCode::Size,
                        reason: "message too big".into(),
                    };
                    let _ = ws.send(Message::Close(Some(close))).await;
                    return;
                }
                Some(Err(_)) => return,
            },
            message = cursor.recv() => match message {
                Ok(text) => {
                    if ws.feed(Message::Text(text)).await.is_err() {
                        return;
                    }
                    tokio::task::yield_now().await;
                    while let Ok(text) = cursor.try_recv() {
                        if ws.feed(Message::Text(text)).await.is_err() {
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
