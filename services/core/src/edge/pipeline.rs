//! The frame pipeline: the message-rate verdict first, then the binary refusal, then
//! the [`Handler`], and the `welcome` a connection is owed ahead of its first replies.
//!
//! The rate's state (the connection's TAT) lives where each home keeps connection
//! state — the gateway's session loop, the AWS connection item — so the home counts
//! the frame with [`crate::abuse::MessageRate::admit`] and passes the
//! [`Admission`] in; what the verdict means is decided here.

use crate::abuse::{self, Admission, Verdict};
use crate::protocol::{ErrorCode, ProtocolError, ServerMessage};
use crate::{Handler, Session};

/// A frame's payload as the home received it.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// A text frame: JSON, parsed by the handler.
    Text(&'a str),
    /// A binary frame: refused, the protocol is JSON text.
    Binary,
}

/// One client frame and what the home knows about it.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The payload.
    pub body: Body<'a>,
    /// The message rate's decision for this frame ([`Admission::allowed`] when the
    /// rate is off or could not be counted: the limit must not become the outage).
    pub rate: Admission,
    /// The clock `rate` was counted on (microseconds), for the refusal's "retry in".
    pub now_us: u64,
    /// The connection has not had its `welcome` yet (AWS: nothing can be posted during
    /// `$connect`, so it rides ahead of the answer to the first frame).
    pub owes_welcome: bool,
}

/// What to do with the frame.
#[derive(Debug)]
pub enum Answer {
    /// The handler ran: send these to the sender, in order.
    Handled(Vec<ServerMessage>),
    /// Refused before the handler (rate limited, binary): send these.
    Refused(Vec<ServerMessage>),
    /// The connection stays over its message rate: close it (1008 where the home
    /// chooses the close code).
    Disconnect,
}

impl Answer {
    /// The close reason of [`Answer::Disconnect`].
    pub const DISCONNECT_REASON: &'static str = "message rate exceeded";

    /// The replies to send (none for a disconnect).
    pub fn replies(&self) -> &[ServerMessage] {
        match self {
            Self::Handled(r) | Self::Refused(r) => r,
            Self::Disconnect => &[],
        }
    }
}

impl Handler {
    /// Run one frame through the pipeline both homes share.
    pub async fn frame(&self, session: &Session, frame: Frame<'_>) -> Answer {
        let mut answer = match (frame.rate.verdict, frame.body) {
            (Verdict::Disconnect, _) => {
                tracing::info!(connection = %session.id, "closing a connection that stays over its message rate");
                return Answer::Disconnect;
            }
            (Verdict::Limited, body) => {
                let text = match body {
                    Body::Text(text) => text,
                    Body::Binary => "",
                };
                Answer::Refused(vec![abuse::rate_limited(
                    text,
                    self.message_rate(),
                    &frame.rate,
                    frame.now_us,
                )])
            }
            (Verdict::Allow, Body::Binary) => Answer::Refused(vec![
                ProtocolError::new(
                    ErrorCode::UnsupportedFrame,
                    "binary frames are not supported; send JSON text",
                )
                .into(),
            ]),
            (Verdict::Allow, Body::Text(text)) => {
                Answer::Handled(self.message(session, text).await)
            }
        };
        // A `hello` answers with the welcome already.
        if frame.owes_welcome {
            let replies = match &mut answer {
                Answer::Handled(r) | Answer::Refused(r) => r,
                Answer::Disconnect => unreachable!("returned above"),
            };
            if !matches!(replies.first(), Some(ServerMessage::Welcome { .. })) {
                replies.insert(0, self.welcome(session));
            }
        }
        answer
    }
}
