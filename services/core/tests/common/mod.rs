//! Shared by the property tests (`tests/props.rs`), the fuzz corpus replay
//! (`tests/fuzz_corpus.rs`) and the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`
//! include this module by path), so a crash the fuzzer finds replays as a plain test.
//!
//! - [`memory`]: in-memory implementations of core's ports, for the real `Handler`.
//! - [`checks`]: the fuzz targets' bodies: parse, validate, apply, assert invariants.

#![allow(dead_code)]

pub mod checks;
pub mod memory;
