use super::*;

/// A server frame (unmasked).
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = client_frame(opcode, payload);
    // Same layout without the mask bit and key, payload unmasked.
    let head = frame.len() - payload.len() - 4;
    frame[1] &= 0x7F;
    frame.truncate(head);
    frame.extend_from_slice(payload);
    frame
}

fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    server_frame(0x8, &payload)
}

const LIMIT: usize = 32 * 1024;

#[test]
fn a_close_then_fin_is_clean_and_a_reset_after_it_is_not() {
    let bytes = close(1009, "message too big");
    assert_eq!(judge(&bytes, LIMIT, End::Eof), Verdict::Clean(1009));
    assert_eq!(
        judge(&bytes, LIMIT, End::Reset),
        Verdict::CloseThenReset(1009)
    );
    assert_eq!(
        judge(&bytes, LIMIT, End::Timeout),
        Verdict::CloseNoEnd(1009)
    );
}

#[test]
fn the_close_is_found_after_other_frames_and_another_code_is_reported() {
    let mut bytes = server_frame(0x1, b"{\"earlier\":1}");
    bytes.extend(server_frame(0xA, b""));
    bytes.extend(close(1002, "protocol error"));
    assert_eq!(judge(&bytes, LIMIT, End::Eof), Verdict::Clean(1002));
    // A close without a code is 1005 (RFC 6455 §7.1.5).
    assert_eq!(
        judge(&server_frame(0x8, b""), LIMIT, End::Eof),
        Verdict::Clean(1005)
    );
}

#[test]
fn no_close_frame_is_a_reset_a_bare_fin_or_silence() {
    assert_eq!(judge(b"", LIMIT, End::Reset), Verdict::Reset);
    assert_eq!(judge(b"", LIMIT, End::Eof), Verdict::EofWithoutClose);
    assert_eq!(judge(b"", LIMIT, End::Timeout), Verdict::Silence);
    // Half a close frame is no close frame.
    let cut = close(1009, "x");
    assert_eq!(judge(&cut[..3], LIMIT, End::Reset), Verdict::Reset);
}

#[test]
fn a_relayed_frame_over_the_limit_means_accepted() {
    let big = server_frame(0x1, &vec![b'a'; 40 * 1024]);
    assert_eq!(judge(&big, LIMIT, End::Timeout), Verdict::Accepted);
    let small = server_frame(0x1, &vec![b'a'; 1024]);
    assert_eq!(judge(&small, LIMIT, End::Timeout), Verdict::Silence);
}

#[test]
fn client_frames_are_masked_with_the_extended_lengths() {
    let frame = client_frame(0x1, &vec![b'a'; 40 * 1024]);
    assert_eq!(&frame[..4], &[0x81, 0x80 | 126, 0xA0, 0x00]);
    assert_eq!(frame.len(), 4 + 4 + 40 * 1024);
    assert_eq!(frame[8], b'a' ^ MASK[0]);
    let huge = client_frame(0x2, &vec![0; 70_000]);
    assert_eq!(huge[1], 0x80 | 127);
    assert_eq!(u64::from_be_bytes(huge[2..10].try_into().unwrap()), 70_000);
    assert_eq!(client_frame(0x8, &[3, 241])[..2], [0x88, 0x82]);
}
