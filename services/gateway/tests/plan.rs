//! `roomcast plan` through the real binary: knobs, delivery time and cost are printed,
//! and nonsense is refused with exit code 2 and a message naming the flag.

use std::process::Command;

fn plan(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_roomcast"))
        .arg("plan")
        .args(args)
        .output()
        .expect("roomcast runs")
}

#[test]
fn prints_knobs_delivery_and_a_priced_month() {
    let out = plan(&[
        "--members",
        "10000",
        "--updates-per-minute",
        "60",
        "--hours",
        "200",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "SHARD_SIZE=",
        "POOL_SIZE=",
        "POST_CONCURRENCY=64",
        "RATE_LIMIT=8000",
        "shard jobs",
        "connection minutes",
        "write request units",
        "us-east-1 list prices of 2026-11-25",
        "total",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // One update a second to 10,000 members is 10,000 posts/s, over the 8,000/s
    // RATE_LIMIT: the plan says so.
    assert!(
        text.contains("WARNING: the mean fan-out exceeds RATE_LIMIT"),
        "{text}"
    );
    // Presence is coalesced: 10,000 members reconnecting every 2 h cost about
    // PRESENCE_BUDGET (1,000) posts/s plus each joiner's own count, not the 27,800/s
    // of one broadcast per join and leave.
    let presence: f64 = text
        .split(" for updates, ")
        .nth(1)
        .and_then(|rest| rest.split(" for presence").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no presence rate in:\n{text}"));
    assert!(
        (900.0..=1_002.0).contains(&presence),
        "{presence} presence posts/s"
    );
}

#[test]
fn a_small_room_needs_no_shards() {
    let out = plan(&["--members", "50", "--updates-per-minute", "10"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("delivered in place"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");
}

#[test]
fn nonsense_is_refused_with_the_flag_named() {
    let out = plan(&["--members", "5", "--updates-per-minute", "-3"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--updates-per-minute"), "{err}");

    let out = plan(&["--members", "0", "--updates-per-minute", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--members"));
}
