//! The fan-out's direct writes, a batch at a time: one `io_uring_enter(2)` for the
//! sends to up to [`BATCH`] idle members instead of one `send(2)` each.
//!
//! At a fixed rate every delivery to a member is its own write, and a write is most of
//! what a delivery costs. Of a loopback `send(2)`'s 6.5 µs, entering the kernel and
//! finding the socket are about half a microsecond; the rest is TCP, which io_uring
//! does not change. Measured in place, alternating `ROOMCAST_IO_URING=true` and `false`
//! (`roomcast-bench load --servers roomcast --clients 1000`, five runs each): 7.6
//! against 8.0 µs of the gateway's CPU per delivery at 1,000 × 10 msg/s. A standalone
//! sender of 1,000 sockets × 10 broadcasts a second gave io_uring batches 0.90× the
//! CPU per send of a `send(2)` loop; registered files and the ring's setup flags made
//! no difference that the noise did not swallow (docs/benchmarks.md).
//!
//! Each send carries `MSG_DONTWAIT`, so the kernel runs it inline during the submission
//! and a full socket completes with `EAGAIN` instead of waiting for room: every send
//! has completed when the submission returns, which is what keeps the frame's bytes
//! and each socket (held open by its locked queue, [`Idle`]) valid for as long as the
//! kernel may read them. Each worker thread has its own ring, made on first use; where
//! io_uring is unavailable (an old kernel, a seccomp filter, `--io-uring false`) the
//! same batch is written with one `send(2)` each.
//!
//! The members of a batch are locked together, with `try_lock` only: two workers
//! writing batches that share members in different orders can never wait on each
//! other. A member whose lock is taken, or that is not idle, is left to its caller's
//! ordinary path.

use bytes::Bytes;
use std::io;
use std::sync::Arc;

use super::registry::{ConnectionHandle, Idle, PushError};

/// Members written per submission: the locks of a batch are held while its sends run,
/// about 6 µs each, so a connection's own task waits at most about 0.2 ms for its lock.
pub const BATCH: usize = 32;

/// Write `frame` to each of `handles` that is idle; the outcome per handle, `None` for
/// one that was not written to (gone, busy, or not idle) and is its caller's to post.
pub fn write_idle(
    handles: &[Option<Arc<ConnectionHandle>>],
    frame: &Bytes,
    io_uring: bool,
) -> Vec<Option<Result<bool, PushError>>> {
    let mut outcomes: Vec<Option<Result<bool, PushError>>> = Vec::with_capacity(handles.len());
    for chunk in handles.chunks(BATCH) {
        let locked: Vec<(usize, Idle<'_>)> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i, h.as_deref()?.try_lock_idle()?)))
            .collect();
        let written = send_all(&locked, frame, io_uring);
        let start = outcomes.len();
        outcomes.resize_with(start + chunk.len(), || None);
        for ((i, idle), written) in locked.into_iter().zip(written) {
            outcomes[start + i] = Some(idle.wrote(frame, written));
        }
    }
    outcomes
}

/// One non-blocking send of `frame` to each of `locked`, through this thread's ring
/// when there is one, else one `send(2)` each; what each send returned, in order.
fn send_all(locked: &[(usize, Idle<'_>)], frame: &[u8], io_uring: bool) -> Vec<io::Result<usize>> {
    #[cfg(target_os = "linux")]
    if io_uring {
        let fds: Vec<_> = locked.iter().map(|(_, idle)| idle.fd()).collect();
        if let Some(written) = ring::send_all(&fds, frame) {
            return written;
        }
    }
    let _ = io_uring;
    locked.iter().map(|(_, idle)| idle.send(frame)).collect()
}

#[cfg(target_os = "linux")]
pub(super) mod ring {
    use io_uring::{IoUring, opcode, types};
    use std::cell::RefCell;
    use std::io;
    use std::os::fd::RawFd;

    /// Submission entries per ring: a batch and room to spare.
    const ENTRIES: u32 = 2 * super::BATCH as u32;

    thread_local! {
        /// This thread's ring: `None` until first used, then `Some(None)` if none
        /// could be made (or it failed), so the thread writes with `send(2)`.
        static RING: RefCell<Option<Option<IoUring>>> = const { RefCell::new(None) };
    }

    /// Whether this thread has made its ring and uses it.
    #[cfg(test)]
    pub fn in_use() -> bool {
        RING.with(|cell| matches!(*cell.borrow(), Some(Some(_))))
    }

    /// [`super::send_all`] through this thread's ring; `None` when it has none.
    pub fn send_all(fds: &[RawFd], frame: &[u8]) -> Option<Vec<io::Result<usize>>> {
        if fds.is_empty() {
            return Some(Vec::new());
        }
        RING.with(|cell| {
            let mut cell = cell.borrow_mut();
            let slot = cell.get_or_insert_with(|| match IoUring::new(ENTRIES) {
                Ok(ring) => Some(ring),
                Err(e) => {
                    tracing::info!(error = %e, "no io_uring: the fan-out writes with send(2)");
                    None
                }
            });
            let ring = slot.as_mut()?;
            match submit(ring, fds, frame) {
                Ok(written) => Some(written),
                Err((written, e)) => {
                    tracing::warn!(error = %e, "io_uring failed: the fan-out writes with send(2)");
                    *slot = None;
                    Some(written)
                }
            }
        })
    }

    /// What each send returned; on a failure of the ring, with the error.
    type Written = Vec<io::Result<usize>>;

    /// Submit one send per fd and wait for every completion.
    fn submit(
        ring: &mut IoUring,
        fds: &[RawFd],
        frame: &[u8],
    ) -> Result<Written, (Written, io::Error)> {
        debug_assert!(fds.len() <= ENTRIES as usize);
        let unsent = |e: io::Error| {
            let written = fds
                .iter()
                .map(|_| Err(io::ErrorKind::WouldBlock.into()))
                .collect();
            (written, e)
        };
        let len = u32::try_from(frame.len()).map_err(|e| unsent(io::Error::other(e)))?;
        {
            let mut sq = ring.submission();
            for (i, &fd) in fds.iter().enumerate() {
                let send = opcode::Send::new(types::Fd(fd), frame.as_ptr(), len)
                    .flags(libc::MSG_DONTWAIT)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the buffer and the fd stay valid until the send completes:
                // this function returns only once every entry pushed here has completed,
                // and its callers keep both alive throughout. When it returns early
                // (here, or when the ring fails) the thread drops the ring, so an entry
                // left unsubmitted is never run.
                unsafe { sq.push(&send) }.map_err(|e| unsent(io::Error::other(e)))?;
            }
        }
        let mut written: Vec<io::Result<usize>> = (0..fds.len())
            .map(|_| Err(io::ErrorKind::WouldBlock.into()))
            .collect();
        let mut done = 0;
        while done < fds.len() {
            let entered = ring.submit_and_wait(fds.len() - done);
            for cqe in ring.completion() {
                let result = cqe.result();
                written[cqe.user_data() as usize] = if result >= 0 {
                    Ok(result as usize)
                } else {
                    Err(io::Error::from_raw_os_error(-result))
                };
                done += 1;
            }
            match entered {
                Ok(_) => {}
                // Interrupted, or short of a resource until completions are reaped
                // (done above): enter again.
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY)) => {}
                // The ring itself is unusable (bad arguments are refused before any
                // entry is consumed): what completed is reported, the rest was not
                // sent and is queued by the caller, and the thread drops the ring.
                Err(e) => return Err((written, e)),
            }
        }
        Ok(written)
    }
}
