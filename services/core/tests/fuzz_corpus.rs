//! The fuzz targets' checks (`tests/common/checks.rs`) on every committed corpus
//! file (`fuzz/corpus/<target>/`) and on the inputs that once failed them, so a plain
//! `cargo test` on stable replays what the fuzzer knows without cargo-fuzz. See
//! docs/hardening.md.

mod common;

use std::path::{Path, PathBuf};

use common::checks;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file reads");
            (path, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_frame_corpus_file_passes_the_frame_checks() {
    let files = corpus("frame");
    assert!(
        files.len() >= 40,
        "the frame corpus is missing: {}",
        files.len()
    );
    for (path, data) in files {
        eprintln!("{}", path.display());
        checks::frame(&data);
    }
}

#[test]
fn every_session_corpus_file_passes_the_session_checks() {
    let files = corpus("session");
    assert!(!files.is_empty(), "the session corpus is missing");
    for (path, data) in files {
        eprintln!("{}", path.display());
        checks::session_bytes(&data);
    }
}

#[test]
fn the_fixture_and_the_corpus_reach_commits_and_refusals() {
    // The corpus files are only worth replaying if they reach both sides of the handler.
    let world = checks::fixture();
    let v1 = roomcast_core::Session {
        user: roomcast_core::protocol::UserId::parse("u1").unwrap(),
        id: roomcast_core::protocol::ConnectionId::parse("c1").unwrap(),
        protocol: roomcast_core::protocol::Protocol::V1,
        room: roomcast_core::protocol::RoomName::parse("alpha").unwrap(),
        access: roomcast_core::auth::RoomAccess::Any,
    };
    let moved = checks::step(
        &world,
        &v1,
        &format!(
            r#"{{"action":"moveIcon","room":"alpha","icon":{{"id":"{}","img":5,"x":1,"y":2}},"ref":"m"}}"#,
            checks::FIXTURE_ICONS[0]
        ),
    );
    assert_eq!(
        moved.map(|(_, v, _)| v),
        Some(6),
        "a move of a fixture icon commits"
    );
    let full = checks::step(
        &world,
        &v1,
        r#"{"action":"addIcon","room":"alpha","icon":{"img":1,"x":1,"y":1},"ref":"a"}"#,
    );
    assert!(full.is_none(), "the fixture base is full");
}

/// Found by the `frame` target in its first minute: a refused `deleteIcon` on a room
/// never written left an empty room behind. The fault was the in-memory store of these
/// tests (`tests/common/memory.rs` inserted the room before applying), not core; the
/// check that caught it ("a refused frame changes no room") stays.
#[test]
fn regression_a_refused_delete_in_a_new_room_leaves_no_room() {
    checks::frame(
        br#"{"action":"deleteIcon","room":"almoveIconpha","id":"icon6MankMC0w82wnPvdBZMx7e7o737","ref":7}"#,
    );
}
