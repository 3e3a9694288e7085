//! One client frame as arbitrary bytes: parse and validate it (under both subprotocols),
//! then hand it to the real `Handler` over in-memory ports holding a full fixture base,
//! and check the invariants in `tests/common/checks.rs` (shared with the replay test
//! `tests/fuzz_corpus.rs`).

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::checks::frame(data));
