//! A sequence of frames from three clients (v1, v1 with a room grant, planetstack) over several
//! rooms, built from the input with `arbitrary`, through one `Handler`: each step is
//! checked like the `frame` target, then every room's patch history (versions `1..=n`,
//! replay equals the stored state). Body in `tests/common/checks.rs`.

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::checks::session_bytes(data));
