//! The fan-out's direct writes against a real loopback socket: whatever mix of direct
//! writes, partial writes and queued frames a burst takes, the client reads every
//! frame whole and in order, and a request's replies are never overtaken.

use bytes::Bytes;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::registry::{ConnectionHandle, OutboundLimits};
use super::socket::Socket;
use super::upgrade::Upgrade;
use crate::fanout::{LocalPoster, LocalQueue, QueueReceiver, WritePacing};
use roomcast_core::protocol::{ConnectionId, Protocol};

/// A server-side stream with a small send buffer (so a burst fills it and writes go
/// partial), and its client.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpSocket::new_v4().unwrap();
    listener.set_send_buffer_size(16 * 1024).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener: TcpListener = listener.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(16 * 1024).unwrap();
    let (client, accepted) = tokio::join!(client.connect(addr), listener.accept());
    (accepted.unwrap().0, client.unwrap())
}

/// A connection as its task has it once greeted: handle, socket (attached for direct
/// writes), and the client's end.
async fn attached() -> (Arc<ConnectionHandle>, Socket, TcpStream) {
    let (server, client) = pair().await;
    let h = handle();
    let socket = Socket::new(Upgrade {
        tcp: server,
        read_ahead: Bytes::new(),
    });
    h.attach(socket.stream());
    (h, socket, client)
}

/// A connection's handle, with room for many frames, before any socket is attached.
fn handle() -> Arc<ConnectionHandle> {
    ConnectionHandle::new(
        ConnectionId::generate(),
        Protocol::V1,
        "127.0.0.1".parse().unwrap(),
        String::new(),
        OutboundLimits {
            frames: 10_000,
            bytes: 64 * 1024 * 1024,
            slow_consumer_timeout: Duration::from_secs(60),
        },
    )
}

/// Frame `i`: a text frame whose payload names it, 7 KiB so a few fill the buffers.
fn numbered(i: usize) -> Bytes {
    let payload = format!("{i:06}{}", "x".repeat(7 * 1024));
    super::frame::text(payload.as_bytes())
}

/// Everything the client reads until `len` bytes have come.
async fn read_all(mut client: TcpStream, len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < len {
        let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
            .await
            .expect("bytes in time")
            .unwrap();
        assert!(n > 0, "closed after {} of {len} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// A burst of 400 frames of 7 KiB to one connection, each posted by `post` (whether
/// it was written whole at once), and the connection's task writing what was queued
/// every 16 frames, as it would when woken: the client reads every frame whole and in
/// order, and the burst took both ways.
async fn a_burst_arrives_whole_and_in_order(
    mut post: impl FnMut(&Arc<ConnectionHandle>, &Bytes) -> bool,
) {
    let (h, mut socket, client) = attached().await;
    let frames: Vec<Bytes> = (0..400).map(numbered).collect();
    let expected: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    let reader = tokio::spawn(read_all(client, expected.len()));
    let (mut direct, mut queued) = (0, 0);
    for frame in &frames {
        match post(&h, frame) {
            true => direct += 1,
            false => queued += 1,
        }
        if queued > 0 && queued % 16 == 0 {
            poll_fn(|cx| socket.poll_write(cx, &h)).await.unwrap();
        }
    }
    poll_fn(|cx| socket.poll_write(cx, &h)).await.unwrap();
    let got = reader.await.unwrap();
    assert!(direct > 0, "the idle socket was written to directly");
    assert!(queued > 0, "a full socket made the fan-out queue");
    assert!(got == expected, "the bytes differ from the frames in order");
}

#[tokio::test]
async fn a_burst_mixing_direct_partial_and_queued_writes_arrives_whole_and_in_order() {
    a_burst_arrives_whole_and_in_order(|h, frame| h.try_push_now(frame).unwrap()).await;
}

#[tokio::test]
async fn replies_to_a_request_go_before_broadcasts_that_came_meanwhile() {
    let (h, mut socket, client) = attached().await;
    let mut at = h.position();
    // A broadcast while the request is handled is queued, not written around it.
    assert!(!h.try_push_now(&numbered(2)).unwrap());
    h.enqueue_at(numbered(1), &mut at).unwrap();
    h.release();
    poll_fn(|cx| socket.poll_write(cx, &h)).await.unwrap();
    // Idle again: the next one is written at once.
    assert!(h.try_push_now(&numbered(3)).unwrap());
    let expected: Vec<u8> = [numbered(1), numbered(2), numbered(3)].concat();
    assert!(read_all(client, expected.len()).await == expected);
}

#[tokio::test]
async fn a_detached_connection_is_only_queued_to() {
    let (h, _socket, _client) = attached().await;
    h.detach();
    assert!(!h.try_push_now(&numbered(1)).unwrap());
}

#[tokio::test]
async fn a_connection_asked_to_close_is_neither_written_to_nor_queued_to() {
    let (h, _socket, mut client) = attached().await;
    h.close(axum::extract::ws::close_code::AGAIN, "test");
    assert_eq!(
        h.try_push_now(&numbered(1)),
        Err(super::registry::PushError::Closed)
    );
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
    assert!(read.is_err(), "a frame reached the socket after the close");
}

#[test]
fn a_direct_write_reads_the_64_bytes_the_fan_out_prefetches() {
    // The `Arc`'s two counts, then the handle's hot fields (see `ConnectionHandle`).
    let hot = 2 * size_of::<usize>() + super::registry::HOT_BYTES;
    assert!(hot <= 64, "{hot} bytes");
}

#[tokio::test]
async fn the_fan_out_writes_a_broadcast_and_queues_one_a_later_broadcast_follows() {
    use roomcast_core::fanout::{FanoutJob, RoomJob, now_ms};
    use roomcast_core::ports::{FanoutQueue, Poster};
    let (h, mut socket, mut client) = attached().await;
    let connections = Arc::new(super::registry::Connections::default());
    connections.insert(h.clone());
    let (queue, jobs) = LocalQueue::new();
    let poster = LocalPoster::new(
        connections,
        queue.clone(),
        WritePacing::new(0, Duration::ZERO),
    );
    let to = [h.id.clone()];
    let (first, second) = (
        Bytes::from_static(b"\"first\""),
        Bytes::from_static(b"\"second\""),
    );
    // Committed long ago, but nothing later waits: the fan-out keeps up, so it writes.
    let committed = now_ms() - 60_000;
    let posted = poster.try_post_all(&to, &first, committed).unwrap();
    assert!(posted[0].is_ok());
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
        .await
        .expect("written at once, with no task to write it")
        .unwrap();
    assert_eq!(&buf[..n], &super::frame::text(&first)[..]);
    // A broadcast committed after it is queued (and taken by a worker, so no room job
    // waits): its frames are queued for the connection's task, to join the next ones.
    let later = RoomJob {
        room: roomcast_core::protocol::RoomName::parse("r").unwrap(),
        version: None,
        payload: "{}".into(),
        except: None,
        planetstack_state: false,
        created_ms: committed + 1,
    };
    queue.enqueue(vec![FanoutJob::Room(later)]).await.unwrap();
    assert!(jobs.take_room_job());
    assert_eq!(queue.room_jobs_waiting(), 0);
    let posted = poster.try_post_all(&to, &second, committed).unwrap();
    assert!(posted[0].is_ok());
    let early = tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a broadcast with a later one behind it was written around the queue"
    );
    poll_fn(|cx| socket.poll_write(cx, &h)).await.unwrap();
    let expected = super::frame::text(&second);
    assert!(read_all(client, expected.len()).await == expected);
}

/// A fan-out poster over `h` and `quiet` connections that are posted nothing, writing
/// as `pacing` says; the one-member list to post to, and the queue's receiving end
/// (kept, so the queue stays open).
fn poster_for(
    h: &Arc<ConnectionHandle>,
    quiet: usize,
    pacing: WritePacing,
) -> (LocalPoster, [ConnectionId; 1], QueueReceiver) {
    let connections = Arc::new(super::registry::Connections::default());
    connections.insert(h.clone());
    for _ in 0..quiet {
        connections.insert(handle());
    }
    let (queue, jobs) = LocalQueue::new();
    (
        LocalPoster::new(connections, queue, pacing),
        [h.id.clone()],
        jobs,
    )
}

#[tokio::test]
async fn with_a_write_delay_the_fan_out_wakes_the_connection_after_it() {
    use roomcast_core::ports::Poster;
    let (h, mut socket, client) = attached().await;
    let delay = Duration::from_millis(300);
    let (poster, to, _jobs) = poster_for(&h, 0, WritePacing::new(0, delay));
    let woken = h.woken();
    let started = tokio::time::Instant::now();
    for n in 1..=2 {
        let payload = Bytes::from(format!("{n}"));
        let posted = poster
            .try_post_all(&to, &payload, roomcast_core::fanout::now_ms())
            .unwrap();
        assert!(posted[0].is_ok());
    }
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken after the delay");
    assert!(started.elapsed() >= delay, "woken before the write delay");
    // Both broadcasts wait in the queue and go out in one write.
    poll_fn(|cx| socket.poll_write(cx, &h)).await.unwrap();
    let expected: Vec<u8> = [super::frame::text(b"1"), super::frame::text(b"2")].concat();
    assert!(read_all(client, expected.len()).await == expected);
}

#[tokio::test]
async fn over_its_write_budget_the_fan_out_stops_writing_at_once_and_batches() {
    use roomcast_core::ports::Poster;
    let (h, mut socket, client) = attached().await;
    // 100 writes a second: one connection's share is one write per 10 ms. The 99
    // quiet connections beside it hear nothing, so they do not share the budget (10 ms,
    // not a second).
    let (poster, to, _jobs) = poster_for(&h, 99, WritePacing::new(100, Duration::ZERO));
    let reader = tokio::spawn(async move {
        let mut client = client;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !got.ends_with(b"last") {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed");
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    // A broadcast a millisecond: 1,000 deliveries a second, ten times the budget. The
    // first are written at once; once a window has measured the rate, none is.
    let mut expected = Vec::new();
    let mut n = 0;
    let post = |n: usize, expected: &mut Vec<u8>| {
        let payload = Bytes::from(format!("{n:04}"));
        expected.extend_from_slice(&super::frame::text(&payload));
        poster
            .try_post_all(&to, &payload, roomcast_core::fanout::now_ms())
            .unwrap()
    };
    // The post that measures the rate over the budget is the first to wait.
    let mut started = tokio::time::Instant::now();
    while poster.write_delay().is_zero() {
        assert!(n < 5_000, "never started pacing");
        started = tokio::time::Instant::now();
        assert!(post(n, &mut expected)[0].is_ok());
        n += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(poster.write_delay(), Duration::from_millis(10));
    let woken = h.woken();
    for _ in 0..3 {
        assert!(post(n, &mut expected)[0].is_ok());
        n += 1;
    }
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken after the delay");
    assert!(
        started.elapsed() >= Duration::from_millis(10),
        "woken early"
    );
    // They wait in the queue and go out in one write, after everything before.
    let payload = Bytes::from_static(b"last");
    expected.extend_from_slice(&super::frame::text(&payload));
    h.try_push(super::frame::text(&payload)).unwrap();
    poll_fn(|cx| socket.poll_write(cx, &h)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("every frame read")
        .unwrap();
    assert!(got == expected, "frames lost or out of order");
}

/// The burst above, written as the fan-out writes a room: a batch at a time
/// ([`super::batch`]), through io_uring or one `send(2)` each, and a member the batch
/// leaves (not idle) posted to one by one.
async fn a_burst_of_batches_arrives_whole_and_in_order(io_uring: bool) {
    a_burst_arrives_whole_and_in_order(|h, frame| {
        let handle = [Some(h.clone())];
        match super::batch::write_idle(&handle, frame, io_uring).remove(0) {
            Some(written) => written.unwrap(),
            None => h.try_push_now(frame).unwrap(),
        }
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_io_uring_batches_arrives_whole_and_in_order() {
    a_burst_of_batches_arrives_whole_and_in_order(true).await;
    // Through the ring, where the kernel allows io_uring (a test thread is the ring's).
    #[cfg(target_os = "linux")]
    if std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").is_ok_and(|s| s.trim() == "0")
    {
        assert!(
            super::batch::ring::in_use(),
            "io_uring is allowed, yet no ring was used"
        );
    }
}

#[tokio::test]
async fn a_burst_of_send_batches_arrives_whole_and_in_order() {
    a_burst_of_batches_arrives_whole_and_in_order(false).await;
}

#[tokio::test]
async fn a_batch_writes_every_idle_member_and_leaves_the_rest() {
    let mut members = Vec::new();
    for _ in 0..40 {
        members.push(attached().await);
    }
    // One handles a request (its replies must go first), one is gone.
    let _held = members[3].0.position();
    let mut handles: Vec<_> = members.iter().map(|(h, _, _)| Some(h.clone())).collect();
    handles[7] = None;
    let frame = numbered(1);
    let written = super::batch::write_idle(&handles, &frame, true);
    assert_eq!(written.len(), 40);
    for (i, w) in written.iter().enumerate() {
        match i {
            3 | 7 => assert!(w.is_none(), "member {i} was written to"),
            _ => assert_eq!(w, &Some(Ok(true)), "member {i}"),
        }
    }
    for (i, (_, _, client)) in members.into_iter().enumerate() {
        if i != 3 && i != 7 {
            assert!(read_all(client, frame.len()).await == frame, "member {i}");
        }
    }
}
