//! The local gateway's backends: room state in an embedded database, memberships in
//! memory (they die with the sockets anyway).

mod embedded;

pub use embedded::{EmbeddedStore, OpenError};
pub use roomcast_core::memory::MemoryMembers;
