//! The frame reader against hand-built client frames, fed whole and byte by byte.

use super::*;

/// A masked client frame.
fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    f
}

fn read_all(chunks: &[&[u8]]) -> (Vec<Incoming>, FrameReader) {
    let mut reader = FrameReader::default();
    let mut out = Vec::new();
    for c in chunks {
        reader.feed(c, &mut out);
    }
    (out, reader)
}

#[test]
fn a_text_frame_read_whole_or_byte_by_byte_is_one_message() {
    let frame = client(true, TEXT, b"hello");
    assert_eq!(read_all(&[&frame]).0, vec![Incoming::Text("hello".into())]);
    let bytes: Vec<&[u8]> = frame.chunks(1).collect();
    let (out, reader) = read_all(&bytes);
    assert_eq!(out, vec![Incoming::Text("hello".into())]);
    assert!(reader.message.is_empty() && reader.partial.capacity() == 0);
}

#[test]
fn fragments_are_reassembled_and_pings_pass_between_them() {
    let mut wire = client(false, TEXT, b"ab");
    wire.extend(client(true, PING, b"p"));
    wire.extend(client(true, CONTINUATION, b"cd"));
    let (out, _) = read_all(&[&wire]);
    assert_eq!(
        out,
        vec![Incoming::Ping(b"p".to_vec()), Incoming::Text("abcd".into())]
    );
}

#[test]
fn a_frame_over_32_kib_is_refused_from_its_header_and_skipped_to_the_close() {
    let big = client(true, TEXT, &vec![b'y'; MAX_FRAME_BYTES + 1]);
    let (head, tail) = big.split_at(100);
    let close = client(true, CLOSE, &1000u16.to_be_bytes());
    let (out, reader) = read_all(&[head, tail, &client(true, TEXT, b"late"), &close]);
    assert_eq!(
        out,
        vec![Incoming::Violation(Violation::TooBig), Incoming::Close]
    );
    assert_eq!(
        reader.partial.capacity(),
        0,
        "the big frame was never buffered"
    );
    let exact = client(true, TEXT, &vec![b' '; MAX_FRAME_BYTES]);
    assert!(matches!(&read_all(&[&exact]).0[..], [Incoming::Text(_)]));
}

#[test]
fn a_message_over_128_kib_in_fragments_is_too_big() {
    let chunk = vec![b'q'; 30 * 1024];
    let mut wire = client(false, TEXT, &chunk);
    for _ in 0..4 {
        wire.extend(client(false, CONTINUATION, &chunk));
    }
    let (out, _) = read_all(&[&wire]);
    assert_eq!(out, vec![Incoming::Violation(Violation::TooBig)]);
}

#[test]
fn bad_utf8_unmasked_frames_and_stray_continuations_are_violations() {
    let bad = client(true, TEXT, &[0xff, 0xfe]);
    assert_eq!(
        read_all(&[&bad]).0,
        vec![Incoming::Violation(Violation::BadUtf8)]
    );
    let unmasked = [0x81, 0x01, b'a'];
    assert_eq!(
        read_all(&[&unmasked]).0,
        vec![Incoming::Violation(Violation::Protocol)]
    );
    let stray = client(true, CONTINUATION, b"x");
    assert_eq!(
        read_all(&[&stray]).0,
        vec![Incoming::Violation(Violation::Protocol)]
    );
}

#[test]
fn server_frames_carry_the_right_length_header() {
    assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
    let mid = text(&[b'a'; 200]);
    assert_eq!(&mid[..4], &[0x81, 126, 0, 200]);
    let long = text(&vec![b'a'; 70_000]);
    assert_eq!(&long[..2], &[0x81, 127]);
    assert_eq!(long.len(), 70_000 + 10);
    assert_eq!(&close(1009, "too big")[..4], &[0x88, 9, 0x03, 0xF1]);
}
