//! Connection ids are unguessable: KSUIDs whose 128-bit payload comes from a CSPRNG
//! (docs/security.md, "Connection ids"). Statistical checks over many ids — loose
//! bounds that a random source passes with overwhelming probability and a counter, a
//! clock or a weak generator does not.

use std::collections::HashSet;

use roomcast_core::protocol::ConnectionId;

const N: usize = 100_000;

fn payload(id: &ConnectionId) -> [u8; 16] {
    let k = ksuid::Ksuid::from_base62(id.as_str()).expect("a KSUID");
    k.payload().try_into().expect("16 bytes")
}

#[test]
fn generated_ids_are_distinct_well_formed_and_random() {
    let ids: Vec<ConnectionId> = (0..N).map(|_| ConnectionId::generate()).collect();
    let distinct: HashSet<&str> = ids.iter().map(ConnectionId::as_str).collect();
    assert_eq!(distinct.len(), N, "an id repeated");
    assert!(
        ids.iter()
            .all(|id| id.as_str().len() == 27
                && id.as_str().bytes().all(|b| b.is_ascii_alphanumeric())),
        "27 base62 characters"
    );

    let payloads: Vec<[u8; 16]> = ids.iter().map(payload).collect();
    // Every one of the 128 payload bits is set in about half of the ids
    // (binomial, σ ≈ 158 at N = 100,000: 50,000 ± 2,000 is over 12 σ).
    for bit in 0..128 {
        let ones = payloads
            .iter()
            .filter(|p| p[bit / 8] >> (bit % 8) & 1 == 1)
            .count();
        assert!(
            (48_000..=52_000).contains(&ones),
            "payload bit {bit} is set in {ones} of {N} ids"
        );
    }
    // Consecutive ids are unrelated: they differ in about 64 of 128 bits on average,
    // and never by a small step (a counter) nor by nothing.
    let mut total = 0u64;
    for pair in payloads.windows(2) {
        let differing: u32 = pair[0]
            .iter()
            .zip(pair[1].iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert!(
            differing >= 20,
            "consecutive payloads differ in {differing} bits"
        );
        total += u64::from(differing);
    }
    let mean = total as f64 / (N - 1) as f64;
    assert!((63.0..=65.0).contains(&mean), "mean differing bits {mean}");
    // The big-endian payloads, read as numbers, are not increasing (no sequence).
    let increasing = payloads
        .windows(2)
        .filter(|w| u128::from_be_bytes(w[0]) < u128::from_be_bytes(w[1]))
        .count();
    assert!(
        (N / 2 - 2_000..=N / 2 + 2_000).contains(&increasing),
        "{increasing} of {N} steps go up"
    );
}
