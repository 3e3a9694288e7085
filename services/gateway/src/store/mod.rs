//! The local gateway's backends: room state in an embedded database, memberships in
//! memory (they die with the sockets anyway).

mod embedded;
mod members;

pub use embedded::{EmbeddedStore, OpenError};
pub use members::MemoryMembers;
