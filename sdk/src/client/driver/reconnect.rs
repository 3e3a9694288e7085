//! Between connections: failing what was in flight, reconnecting with backoff, and
//! holding the requests made meanwhile.

use super::{Command, Driver, Waiter};
use crate::Error;
use crate::client::connect::{Socket, is_permanent};

impl Driver {
    /// The connection is gone: requests in flight fail with
    /// [`Error::ConnectionLost`]; the driver's own requests are forgotten (they are
    /// sent again on reconnect).
    pub(super) fn fail_in_flight(&mut self) {
        for (_, waiter) in self.pending.drain() {
            if let Waiter::User { reply, .. } = waiter {
                let _ = reply.send(Err(Error::ConnectionLost));
            }
        }
        for (_, reply) in self.awaiting_state.drain(..) {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        for reply in self.awaiting_rooms.drain(..) {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        for (_, reply) in self.awaiting_members.drain(..) {
            let _ = reply.send(Err(Error::ConnectionLost));
        }
        self.resyncing.clear();
        self.syncs.clear();
    }

    /// Reconnect with backoff; requests made meanwhile wait in the backlog (each
    /// caller's timeout still runs). `None`: stopped, or gave up.
    pub(super) async fn reconnect(&mut self) -> Option<Socket> {
        let mut attempt = 0u32;
        loop {
            if self
                .options
                .reconnect
                .max_attempts
                .is_some_and(|max| attempt >= max)
            {
                tracing::warn!(attempts = attempt, "giving up reconnecting");
                return None;
            }
            let delay = self.options.reconnect.delay(attempt);
            attempt = attempt.saturating_add(1);
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = self.commands.recv() => if !self.hold(command) { return None },
                }
            }
            let target = self.target.clone();
            let opening = target.open();
            tokio::pin!(opening);
            let result = loop {
                tokio::select! {
                    result = &mut opening => break result,
                    command = self.commands.recv() => if !self.hold(command) { return None },
                }
            };
            match result {
                Ok(socket) => {
                    tracing::info!(attempt, "reconnected");
                    return Some(socket);
                }
                Err(error) if is_permanent(&error) => {
                    tracing::warn!(%error, "reconnect refused; giving up");
                    return None;
                }
                Err(error) => tracing::debug!(%error, attempt, "reconnect failed"),
            }
        }
    }

    /// A command while disconnected: requests wait; `false` means stop.
    fn hold(&mut self, command: Option<Command>) -> bool {
        match command {
            None => false,
            Some(Command::Close(done)) => {
                self.closing.push(done);
                false
            }
            Some(Command::Request(out)) => {
                self.backlog.retain(|o| !o.reply.is_closed());
                self.backlog.push_back(out);
                true
            }
        }
    }
}
