//! WebSocket frames (RFC 6455 §5): the server's frames, encoded once, and an
//! incremental reader of the client's frames that keeps only a partial frame.
//!
//! Server frames are unmasked, so a broadcast's frame (header and payload) is the same
//! bytes for every recipient: it is encoded once and shared as [`Bytes`](bytes::Bytes). Client frames
//! arrive in whatever pieces TCP delivers; the reader parses them straight out of the
//! bytes just read and copies only an incomplete frame's bytes, so an idle connection
//! holds no buffer at all.

use bytes::{BufMut, Bytes, BytesMut};
use roomcast_core::protocol::limits::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A frame the server sends, header and payload in one buffer.
fn encode(opcode: u8, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    frame.put_u8(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.put_u8(n as u8),
        n if n <= 0xFFFF => {
            frame.put_u8(126);
            frame.put_u16(n as u16);
        }
        n => {
            frame.put_u8(127);
            frame.put_u64(n as u64);
        }
    }
    frame.extend_from_slice(payload);
    frame.freeze()
}

/// A text frame (the caller vouches for UTF-8).
pub fn text(payload: &[u8]) -> Bytes {
    encode(TEXT, payload)
}

/// A pong answering a ping with `payload`.
pub fn pong(payload: &[u8]) -> Bytes {
    encode(PONG, payload)
}

/// A close frame with a code and a reason.
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    // A control frame's payload is at most 125 bytes.
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    encode(CLOSE, &payload)
}

/// Why the client's input ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A frame over 32 KiB or a message over 128 KiB (1009).
    TooBig,
    /// A text message that is not UTF-8 (1007).
    BadUtf8,
    /// Anything else against RFC 6455: unmasked, reserved bits, bad fragmentation.
    Protocol,
}

/// What the client sent, one complete message or control frame at a time.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (reassembled if it was fragmented).
    Text(String),
    /// A binary message (refused by the protocol, so its bytes are not kept).
    Binary,
    /// A ping to answer with this payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// The client closes.
    Close,
    /// The input broke a rule; nothing after it is delivered except a close.
    Violation(Violation),
}

/// Reads the client's frames from the bytes the socket gives, piece by piece.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// The start of a frame whose rest has not arrived yet; empty (and unallocated)
    /// between frames.
    partial: Vec<u8>,
    /// Payload bytes still to throw away (the rest of a refused frame).
    skip: u64,
    /// A fragmented message so far, and whether it is text.
    message: Vec<u8>,
    fragmented: Option<bool>,
    /// After a violation only a close frame is looked for.
    discarding: bool,
    /// The framing itself was broken: nothing more can be parsed.
    lost: bool,
}

/// A frame's header, once enough bytes for it are there.
struct Header {
    fin: bool,
    opcode: u8,
    rsv: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    size: usize,
}

fn header(bytes: &[u8]) -> Option<Header> {
    let (b0, b1) = (*bytes.first()?, *bytes.get(1)?);
    let (len, mut size) = match b1 & 0x7F {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as u64,
            4,
        ),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?), 10),
        n => (n as u64, 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key: [u8; 4] = bytes.get(size..size + 4)?.try_into().ok()?;
        size += 4;
        Some(key)
    } else {
        None
    };
    Some(Header {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        opcode: b0 & 0x0F,
        mask,
        len,
        size,
    })
}

impl FrameReader {
    /// From now on only a close frame counts (the server is closing); false when the
    /// framing is lost and not even that can be recognized.
    pub fn close(&mut self) -> bool {
        self.discarding = true;
        !self.lost
    }

    /// Parse `data` (just read), appending what it completes to `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Incoming>) {
        if self.skip > 0 {
            let n = self.skip.min(data.len() as u64);
            self.skip -= n;
            data = &data[n as usize..];
        }
        if self.partial.is_empty() {
            let used = self.parse(data, out);
            self.partial.extend_from_slice(&data[used..]);
        } else {
            let mut buffered = std::mem::take(&mut self.partial);
            buffered.extend_from_slice(data);
            let used = self.parse(&buffered, out);
            buffered.drain(..used);
            self.partial = buffered;
        }
        if self.partial.is_empty() {
            // Give the frame-sized allocation back: idle connections hold nothing.
            self.partial = Vec::new();
        }
    }

    /// Parse whole frames from `bytes`; returns how many bytes were used.
    fn parse(&mut self, bytes: &[u8], out: &mut Vec<Incoming>) -> usize {
        let mut at = 0;
        while !self.lost {
            let rest = &bytes[at..];
            let Some(h) = header(rest) else { break };
            if !self.discarding {
                if let Some(v) = self.refuse(&h) {
                    out.push(Incoming::Violation(v));
                    self.discarding = true;
                }
                if self.lost {
                    return bytes.len();
                }
            }
            let whole = h.size as u64 + h.len;
            let keep = !self.discarding || (h.opcode == CLOSE && h.len <= 125);
            if !keep {
                // Throw the frame away without waiting for (or buffering) all of it.
                let here = whole.min(rest.len() as u64);
                self.skip = whole - here;
                at += here as usize;
                continue;
            }
            if (rest.len() as u64) < whole {
                break;
            }
            let mut payload = rest[h.size..whole as usize].to_vec();
            if let Some(key) = h.mask {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= key[i & 3];
                }
            }
            at += whole as usize;
            self.complete(h, payload, out);
        }
        at
    }

    /// A rule the header alone breaks, if any.
    fn refuse(&mut self, h: &Header) -> Option<Violation> {
        let control = h.opcode & 0x8 != 0;
        let known = matches!(h.opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG);
        if h.rsv != 0 || h.mask.is_none() || !known || (control && (!h.fin || h.len > 125)) {
            self.lost = true;
            return Some(Violation::Protocol);
        }
        if !control && h.len > MAX_FRAME_BYTES as u64 {
            return Some(Violation::TooBig);
        }
        None
    }

    /// A whole frame has arrived: turn it into messages.
    fn complete(&mut self, h: Header, payload: Vec<u8>, out: &mut Vec<Incoming>) {
        if self.discarding {
            // Only close frames get here.
            out.push(Incoming::Close);
            return;
        }
        let start = match h.opcode {
            CLOSE => return out.push(Incoming::Close),
            PING => return out.push(Incoming::Ping(payload)),
            PONG => return out.push(Incoming::Pong),
            TEXT | BINARY => true,
            _ => false,
        };
        if start == self.fragmented.is_some() {
            // A new message inside a fragmented one, or a continuation of nothing.
            self.lost = true;
            return self.violate(Violation::Protocol, out);
        }
        let (text, whole) = if start {
            if !h.fin {
                self.fragmented = Some(h.opcode == TEXT);
                self.message = payload;
                return;
            }
            (h.opcode == TEXT, payload)
        } else {
            if self.message.len() + payload.len() > MAX_MESSAGE_BYTES {
                return self.violate(Violation::TooBig, out);
            }
            self.message.extend_from_slice(&payload);
            if !h.fin {
                return;
            }
            let text = self.fragmented.take() == Some(true);
            (text, std::mem::take(&mut self.message))
        };
        match (text, String::from_utf8(whole)) {
            (false, _) => out.push(Incoming::Binary),
            (true, Ok(s)) => out.push(Incoming::Text(s)),
            (true, Err(_)) => self.violate(Violation::BadUtf8, out),
        }
    }

    fn violate(&mut self, v: Violation, out: &mut Vec<Incoming>) {
        self.message = Vec::new();
        self.fragmented = None;
        self.discarding = true;
        out.push(Incoming::Violation(v));
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
