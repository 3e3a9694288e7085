//! API Gateway's WebSocket limits, enforced everywhere so local behaves like AWS.

/// Largest single WebSocket frame a client may send (API Gateway: 32 KB). Larger → close 1009.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// Largest message (all fragments of one frame sequence) and largest post (128 KB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Largest `emit` data, so that the `event` envelope around it still fits one post.
pub const MAX_EMIT_DATA_BYTES: usize = 64 * 1024;
/// Default most icons per base. A full base's state (~60 bytes an icon) stays far under
/// both the 128 KB message limit and DynamoDB's 400 KB item limit.
pub const DEFAULT_ICON_CAP: usize = 1000;
/// Idle timeout: no frame from the client for this long closes the connection (10 min).
pub const IDLE_TIMEOUT_SECS: u64 = 10 * 60;
/// Maximum connection lifetime (2 h).
pub const MAX_LIFETIME_SECS: u64 = 2 * 60 * 60;
/// New connections per second per account (API Gateway's default quota).
pub const CONNECTS_PER_SECOND: u32 = 500;
/// How many rooms `listRooms` returns at most.
pub const LIST_ROOMS_LIMIT: usize = 50;
/// How many users one `listMembers` page holds at most.
pub const LIST_MEMBERS_LIMIT: usize = 100;
