//! A census of the live connections for `/admin`: how many speak each protocol and
//! how much waits in their outbound queues. A child of the registry so it can read the
//! queues' counters without widening their API.

use super::{ConnectionHandle, Connections};
use roomcast_core::protocol::Protocol;

/// Connections by protocol and their outbound queues, as of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Census {
    /// Connections counted.
    pub count: usize,
    /// Of which `roomcast.v1`.
    pub v1: usize,
    /// Of which the planetstack format (no subprotocol).
    pub planetstack: usize,
    /// Frames queued (or taken and not yet written) over all connections.
    pub queued_frames_total: usize,
    /// The most frames queued on one connection.
    pub queued_frames_max: usize,
    /// Bytes queued over all connections.
    pub queued_bytes_total: usize,
    /// The most bytes queued on one connection.
    pub queued_bytes_max: usize,
}

impl ConnectionHandle {
    /// Frames and bytes between posts and the socket right now.
    fn queued(&self) -> (usize, usize) {
        let q = self.queue();
        (q.frames, q.bytes)
    }
}

impl Connections {
    /// Count every live connection once. Takes each queue's lock briefly, one at a
    /// time, so it never holds up fan-out for longer than one push.
    pub fn census(&self) -> Census {
        self.map.iter().fold(Census::default(), |mut c, entry| {
            let handle = entry.value();
            let (frames, bytes) = handle.queued();
            c.count += 1;
            match handle.protocol {
                Protocol::V1 => c.v1 += 1,
                Protocol::Planetstack => c.planetstack += 1,
            }
            c.queued_frames_total += frames;
            c.queued_frames_max = c.queued_frames_max.max(frames);
            c.queued_bytes_total += bytes;
            c.queued_bytes_max = c.queued_bytes_max.max(bytes);
            c
        })
    }
}
