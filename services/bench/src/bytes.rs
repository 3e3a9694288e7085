//! Bytes on the wire per update: roomcast's `patch` vs planetstack's full state.
//!
//! Both frames come from core's own serializers, the ones the servers send:
//! `ServerMessage::Patch` rendered for `roomcast.v1` (what every v1 member gets after a
//! `moveIcon`), and `GameState::to_planetstack` (what planetstack sends every member after
//! every change, and what roomcast's planetstack mode sends its planetstack-format members). The
//! v1 `state` frame (a join or a resync) is shown for reference.
//!
//! On the wire each message is a WebSocket text frame (server → client, unmasked):
//! a 2, 4 or 10-byte header. API Gateway caps frames at 32 KB, so it splits a larger
//! message into several frames, each with its own header; the frame bytes are computed
//! with tungstenite's own frame encoder. API Gateway also meters WebSocket messages in
//! 32 KB increments, so a larger message counts as several.

use crate::support::Output;
use crate::support::table::Table;
use roomcast_core::protocol::{Background, Coord, Icon, IconId, Image, RoomName, ServerMessage};
use roomcast_core::state::{GameState, Op};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// API Gateway's WebSocket frame size limit and message metering unit.
pub const APIGW_FRAME: usize = 32 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Base sizes (icons) to measure.
    #[arg(long, value_delimiter = ',', default_value = "10,200,1000")]
    pub icons: Vec<usize>,
    /// Room size used for the per-broadcast totals.
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
}

impl Args {
    pub fn quick() -> Self {
        Self::full()
    }
    pub fn full() -> Self {
        Self {
            icons: vec![10, 200, 1000],
            members: 1000,
        }
    }
}

/// One base size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BytesRow {
    pub icons: usize,
    /// roomcast.v1 `patch` (moveIcon), payload bytes.
    pub patch: usize,
    /// The same on the wire (WebSocket frame).
    pub patch_wire: usize,
    /// Planetstack full state `{bg, icons}`, payload bytes.
    pub planetstack_state: usize,
    /// The same on the wire, split into ≤ 32 KB frames as API Gateway does.
    pub planetstack_state_wire: usize,
    /// API Gateway messages metered for one planetstack update (32 KB units).
    pub planetstack_metered_messages: usize,
    /// roomcast.v1 `state` frame (join / resync), payload bytes.
    pub v1_state: usize,
}

/// Everything `bytes` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BytesResults {
    pub members: usize,
    pub rows: Vec<BytesRow>,
}

/// Wire bytes of one text message sent as frames of at most `max_frame` payload bytes.
pub fn wire_bytes(payload: &[u8], max_frame: usize) -> usize {
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(max_frame).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            Frame::message(chunk.to_vec(), opcode, i == last).len()
        })
        .sum()
}

/// A base of `n` icons with plausible values (ids are real KSUID ids; coordinates
/// spread over a 2,000-pixel planet, so mostly 3–4 digits and some negative).
fn base(n: usize) -> (GameState, Vec<IconId>) {
    let mut state = GameState {
        bg: Background::parse(7).expect("valid"),
        ..GameState::default()
    };
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = IconId::generate();
        let icon = Icon {
            img: Image::parse((i * 7 % 64) as i64).expect("valid"),
            x: Coord::parse(((i * 37) % 2000) as f64 - 400.0).expect("valid"),
            y: Coord::parse(((i * 53) % 2000) as f64 - 300.0).expect("valid"),
        };
        state.icons.insert(id.clone(), icon);
        ids.push(id);
    }
    (state, ids)
}

pub async fn run(args: Args, out: &Output) -> anyhow::Result<()> {
    let room = RoomName::parse("alpha").expect("valid");
    let mut rows = Vec::new();
    for &n in &args.icons {
        let (mut state, ids) = base(n.max(1));
        // One moveIcon: the patch names the icon and its new image and position; the
        // planetstack sends the whole base after applying it.
        let moved = ids[ids.len() / 2].clone();
        let icon = Icon {
            img: Image::parse(12).expect("valid"),
            x: Coord::parse(1234.0).expect("valid"),
            y: Coord::parse(-567.0).expect("valid"),
        };
        state.icons.insert(moved.clone(), icon);
        let version = n as u64 + 1;
        // Frames as they go out: placed in the room's history.
        let at = roomcast_core::protocol::Position {
            offset: version,
            epoch: roomcast_core::protocol::Epoch::generate(),
        };
        let patch = ServerMessage::Patch {
            room: room.clone(),
            version,
            op: Op::MoveIcon { id: moved, icon },
            at: Some(at.clone()),
        }
        .to_v1();
        let planetstack = state.to_planetstack();
        let v1_state = ServerMessage::State {
            room: room.clone(),
            version,
            state: state.clone(),
            at: Some(at),
        }
        .to_v1();
        rows.push(BytesRow {
            icons: n,
            patch: patch.len(),
            patch_wire: wire_bytes(patch.as_bytes(), APIGW_FRAME),
            planetstack_state: planetstack.len(),
            planetstack_state_wire: wire_bytes(planetstack.as_bytes(), APIGW_FRAME),
            planetstack_metered_messages: planetstack.len().div_ceil(APIGW_FRAME).max(1),
            v1_state: v1_state.len(),
        });
    }
    let results = BytesResults {
        members: args.members,
        rows,
    };
    print(&results);
    out.save("bytes", &results)?;
    Ok(())
}

fn kib(b: usize) -> String {
    if b >= 10 * 1024 * 1024 {
        format!("{:.0} MiB", b as f64 / 1024.0 / 1024.0)
    } else if b >= 1024 * 1024 {
        format!("{:.1} MiB", b as f64 / 1024.0 / 1024.0)
    } else if b >= 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn print(r: &BytesResults) {
    let mut t = Table::new([
        "icons in the base",
        "roomcast patch (wire)",
        "planetstack full state (wire)",
        "planetstack / roomcast",
        "APIGW messages metered per planetstack update",
        &format!("per update to {} members: roomcast", r.members),
        "planetstack",
        "v1 state on join (payload)",
    ]);
    for row in &r.rows {
        t.row([
            row.icons.to_string(),
            format!("{} B ({} B)", row.patch, row.patch_wire),
            format!(
                "{} B ({} B)",
                row.planetstack_state, row.planetstack_state_wire
            ),
            format!(
                "{:.1}×",
                row.planetstack_state_wire as f64 / row.patch_wire as f64
            ),
            row.planetstack_metered_messages.to_string(),
            kib(row.patch_wire * r.members),
            kib(row.planetstack_state_wire * r.members),
            format!("{} B", row.v1_state),
        ]);
    }
    t.print("Bytes per update (one moveIcon)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_grow_with_the_payload_and_large_messages_split() {
        assert_eq!(wire_bytes(&[b'x'; 125], APIGW_FRAME), 127);
        assert_eq!(wire_bytes(&[b'x'; 126], APIGW_FRAME), 130);
        assert_eq!(wire_bytes(&[b'x'; 70_000], usize::MAX), 70_010);
        // 32 KiB + 1: a 4-byte-header frame of 32,768 and a 2-byte-header frame of 1.
        assert_eq!(
            wire_bytes(&[b'x'; APIGW_FRAME + 1], APIGW_FRAME),
            32_772 + 3
        );
    }
}
