//! When a peer session Pings and when it gives up on the remote, as sans-IO state: time comes in
//! as `now`, the next deadline goes out as [`Keepalive::poll_timeout`], and
//! [`Keepalive::handle_timeout`] says what a passed deadline asks. The write loop drives it
//! (`timer.rs`); nothing here reads a clock.
//!
//! Three deadlines, as go-ethereum's `pingInterval` (p2p/peer.go), `frameReadTimeout` and
//! `frameWriteTimeout` (p2p/server.go):
//! - a Ping every `ping_interval` from the start (a missed one goes out as soon as it can, like
//!   a tokio `Interval` in its default `Burst` mode), never in the middle of a write;
//! - a read timeout `read_timeout` after the read loop began waiting for a frame;
//! - a write timeout `write_timeout` after a write began and did not finish.

use std::time::{Duration, Instant};

use super::PeerConfig;

/// What a passed deadline asks of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// Send a Ping.
    Ping,
    /// No frame arrived within the read timeout: the remote is gone or silent ("ping timeout").
    ReadTimeout,
    /// A write did not finish within the write timeout: the remote does not take our data.
    WriteTimeout,
}

/// The Ping schedule and the read and write deadlines of one peer session.
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    ping_interval: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    next_ping: Instant,
    /// `None` once the read timeout was reported: the session is ending, and a later read does
    /// not revive it.
    read_deadline: Option<Instant>,
    /// `Some` while a write is pending.
    write_deadline: Option<Instant>,
}

impl Keepalive {
    /// A session that starts at `now`, waiting for its first frame, with `config`'s timings.
    pub(crate) fn new(now: Instant, config: &PeerConfig) -> Self {
        Keepalive {
            ping_interval: config.ping_interval,
            read_timeout: config.read_timeout,
            write_timeout: config.write_timeout,
            next_ping: now + config.ping_interval,
            read_deadline: Some(now + config.read_timeout),
            write_deadline: None,
        }
    }

    /// The read loop waits for the next frame from `now` on (it received the last one and
    /// handed it on).
    pub(crate) fn read_started(&mut self, now: Instant) {
        if let Some(deadline) = &mut self.read_deadline {
            *deadline = now + self.read_timeout;
        }
    }

    /// A write began at `now`.
    pub(crate) fn write_started(&mut self, now: Instant) {
        self.write_deadline = Some(now + self.write_timeout);
    }

    /// The pending write finished (when does not matter: it arms nothing).
    pub(crate) fn write_finished(&mut self) {
        self.write_deadline = None;
    }

    /// The next deadline: call [`Keepalive::handle_timeout`] then (or earlier: it answers
    /// `None` when nothing is due).
    pub(crate) fn poll_timeout(&self) -> Instant {
        // While a write is pending no Ping is due, so the write deadline takes its place.
        let timer = self.write_deadline.unwrap_or(self.next_ping);
        self.read_deadline.map_or(timer, |read| read.min(timer))
    }

    /// What is due at `now`, most severe first; call again until `None`. A write timeout is
    /// reported until the write finishes, a read timeout once, and each due Ping once.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Expired> {
        if let Some(deadline) = self.write_deadline {
            if now >= deadline {
                return Some(Expired::WriteTimeout);
            }
        }
        if self.read_deadline.is_some_and(|deadline| now >= deadline) {
            self.read_deadline = None;
            return Some(Expired::ReadTimeout);
        }
        if self.write_deadline.is_none() && now >= self.next_ping {
            self.next_ping += self.ping_interval;
            return Some(Expired::Ping);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// A session started at `start` with the default timings: Ping 15 s, read 30 s, write 20 s.
    fn session() -> (Keepalive, Instant) {
        let start = Instant::now();
        (Keepalive::new(start, &PeerConfig::default()), start)
    }

    /// Everything due at `now`, in the order it is reported, up to a write timeout (which ends
    /// the session, and is reported again on every call).
    fn due(keepalive: &mut Keepalive, now: Instant) -> Vec<Expired> {
        let mut due = Vec::new();
        // Bounded, so a deadline reported again and again fails the test instead of hanging it.
        while let Some(expired) = keepalive.handle_timeout(now).filter(|_| due.len() < 8) {
            due.push(expired);
            if expired == Expired::WriteTimeout {
                break;
            }
        }
        due
    }

    #[test]
    fn pings_every_interval_while_frames_arrive() {
        let (mut keepalive, start) = session();
        assert_eq!(keepalive.poll_timeout(), start + 15 * SECOND);
        for ping in 1..=8u32 {
            let at = start + ping * 15 * SECOND;
            assert_eq!(keepalive.poll_timeout(), at);
            assert_eq!(due(&mut keepalive, at - Duration::from_millis(1)), []);
            assert_eq!(due(&mut keepalive, at), [Expired::Ping]);
            // The remote answers at once.
            keepalive.read_started(at);
        }
    }

    #[test]
    fn read_times_out_after_the_last_frame_once() {
        let (mut keepalive, start) = session();
        keepalive.read_started(start + 10 * SECOND);
        let deadline = start + 40 * SECOND;
        assert_eq!(
            due(&mut keepalive, start + 15 * SECOND),
            [Expired::Ping],
            "a frame does not move the Ping schedule"
        );
        assert_eq!(due(&mut keepalive, start + 30 * SECOND), [Expired::Ping]);
        assert_eq!(keepalive.poll_timeout(), deadline);
        assert_eq!(due(&mut keepalive, deadline - Duration::from_millis(1)), []);
        assert_eq!(due(&mut keepalive, deadline), [Expired::ReadTimeout]);
        // Reported once, and a frame after it does not revive the session.
        keepalive.read_started(deadline);
        assert_eq!(keepalive.poll_timeout(), start + 45 * SECOND);
        assert_eq!(due(&mut keepalive, start + 45 * SECOND), [Expired::Ping]);
    }

    #[test]
    fn silent_remote_times_out_at_the_read_timeout() {
        let (mut keepalive, start) = session();
        let at = start + 30 * SECOND;
        assert_eq!(
            due(&mut keepalive, at),
            [Expired::ReadTimeout, Expired::Ping, Expired::Ping]
        );
    }

    #[test]
    fn write_times_out_when_it_does_not_finish() {
        let (mut keepalive, start) = session();
        let began = start + 2 * SECOND;
        keepalive.write_started(began);
        keepalive.read_started(began);
        assert_eq!(keepalive.poll_timeout(), began + 20 * SECOND);
        // No Ping in the middle of a write.
        assert_eq!(due(&mut keepalive, start + 15 * SECOND), []);
        assert_eq!(
            due(&mut keepalive, began + 20 * SECOND),
            [Expired::WriteTimeout]
        );
        assert_eq!(
            keepalive.handle_timeout(began + 21 * SECOND),
            Some(Expired::WriteTimeout),
            "reported until the write finishes"
        );
    }

    #[test]
    fn finished_write_arms_nothing_and_a_missed_ping_goes_out_after_it() {
        let (mut keepalive, start) = session();
        keepalive.write_started(start + 10 * SECOND);
        keepalive.read_started(start + 10 * SECOND);
        assert_eq!(due(&mut keepalive, start + 16 * SECOND), []);
        keepalive.write_finished();
        // The Ping due at 15 s is due now; the next keeps the schedule.
        assert_eq!(keepalive.poll_timeout(), start + 15 * SECOND);
        assert_eq!(due(&mut keepalive, start + 16 * SECOND), [Expired::Ping]);
        assert_eq!(keepalive.poll_timeout(), start + 30 * SECOND);
        keepalive.read_started(start + 29 * SECOND);
        assert_eq!(due(&mut keepalive, start + 35 * SECOND), [Expired::Ping]);
    }

    #[test]
    fn read_timeout_during_a_write_comes_before_the_write_timeout() {
        let (mut keepalive, start) = session();
        keepalive.write_started(start + 25 * SECOND);
        assert_eq!(keepalive.poll_timeout(), start + 30 * SECOND);
        assert_eq!(
            due(&mut keepalive, start + 30 * SECOND),
            [Expired::ReadTimeout]
        );
        assert_eq!(keepalive.poll_timeout(), start + 45 * SECOND);
        assert_eq!(
            due(&mut keepalive, start + 45 * SECOND),
            [Expired::WriteTimeout]
        );
    }
}
