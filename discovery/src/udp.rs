//! The one socket loop of discovery: a UDP socket, the protocols on it (discv4, discv5 or
//! both), one receive loop, one timer. [`Discv4Handle::spawn`] and [`Discv5Handle::spawn`]
//! run one protocol on a socket; [`spawn_shared`] runs both on one port as go-ethereum does
//! (`p2p/server.go` `setupDiscovery`): discv4 reads every datagram first and whatever is no
//! discv4 packet at all ([`NotDiscv4`](crate::v4::NotDiscv4): wrong hash or signature, too
//! short) goes to discv5, in the same task and without a copy or a queue, so the hand-over is
//! bounded by the socket's own buffer and never blocks.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::v4::{self, Discv4, Discv4Handle, Transmit};
use crate::v5::{self, Discv5, Discv5Handle};

/// Room for the largest datagram either protocol reads, plus one byte so a longer one is seen
/// as too long instead of being cut to size.
const RECEIVE_BUFFER: usize = max(v4::MAX_RECEIVE_PACKET_SIZE, v5::MAX_PACKET_SIZE) + 1;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// One protocol as the loop drives it: a sans-IO state machine plus the commands and events
/// of its handle.
pub(crate) trait Side {
    /// What its handle asks of it.
    type Command: Send;
    /// Its name, for logs.
    const NAME: &'static str;
    /// Where its handle's commands arrive.
    fn commands(&mut self) -> &mut mpsc::Receiver<Self::Command>;
    /// Carries out one command; `false` when the protocol is to stop.
    fn apply(&mut self, now: Instant, command: Self::Command) -> bool;
    /// The next datagram it wants sent.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// Hands its pending events to their receivers.
    fn publish(&mut self);
    /// When it next needs [`Side::handle_timeout`].
    fn poll_timeout(&self) -> Instant;
    /// Lets time pass (calling it early is harmless: it acts only on what is due).
    fn handle_timeout(&mut self, now: Instant);
}

/// Sends what `side` has queued and publishes its events.
async fn flush<S: Side>(socket: &UdpSocket, local: SocketAddr, side: &mut S) {
    while let Some(transmit) = side.poll_transmit() {
        let to = crate::netutil::destination(local, transmit.to);
        if let Err(error) = socket.send_to(&transmit.payload, to).await {
            tracing::debug!(protocol = S::NAME, to = %transmit.to, %error, "send failed");
        }
    }
    side.publish();
}

/// The next command of `side`, or never if that protocol is not (or no longer) running.
/// `None` inside means every handle was dropped.
async fn next_command<S: Side>(side: &mut Option<S>) -> Option<S::Command> {
    match side {
        Some(side) => side.commands().recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the protocols on `socket` until each has been shut down (or lost all its handles).
pub(crate) async fn run(
    socket: UdpSocket,
    mut v4: Option<v4::driver::Runner>,
    mut v5: Option<v5::driver::Runner>,
) {
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    // Only its family matters (for `destination`); a socket without an address sends as is.
    let local = socket
        .local_addr()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        if let Some(side) = &mut v4 {
            flush(&socket, local, side).await;
        }
        if let Some(side) = &mut v5 {
            flush(&socket, local, side).await;
        }
        let wake = match (&v4, &v5) {
            (Some(a), Some(b)) => a.poll_timeout().min(b.poll_timeout()),
            (Some(a), None) => a.poll_timeout(),
            (None, Some(b)) => b.poll_timeout(),
            (None, None) => return,
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => dispatch(&mut v4, &mut v5, from, &buf[..len]),
                // ICMP port unreachable and the like surface here on some systems: not fatal.
                Err(error) => tracing::trace!(%error, "discovery receive error"),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                if let Some(side) = &mut v4 {
                    side.handle_timeout(now);
                }
                if let Some(side) = &mut v5 {
                    side.handle_timeout(now);
                }
            }
            command = next_command(&mut v4) => {
                let keep = match (command, &mut v4) {
                    (Some(command), Some(side)) => side.apply(Instant::now(), command),
                    _ => false,
                };
                if !keep {
                    v4 = None;
                }
            }
            command = next_command(&mut v5) => {
                let keep = match (command, &mut v5) {
                    (Some(command), Some(side)) => side.apply(Instant::now(), command),
                    _ => false,
                };
                if !keep {
                    v5 = None;
                }
            }
        }
    }
}

/// Gives a datagram to the protocol it belongs to: discv4 first when it runs, then discv5
/// what discv4 passes on.
fn dispatch(
    v4: &mut Option<v4::driver::Runner>,
    v5: &mut Option<v5::driver::Runner>,
    from: SocketAddr,
    datagram: &[u8],
) {
    let now = Instant::now();
    match (v4, v5) {
        (Some(v4), Some(v5)) => {
            if v4
                .service
                .handle_shared_datagram(now, from, datagram)
                .is_err()
            {
                v5.service.handle_datagram(now, from, datagram);
            }
        }
        (Some(v4), None) => v4.service.handle_datagram(now, from, datagram),
        (None, Some(v5)) => v5.service.handle_datagram(now, from, datagram),
        (None, None) => {}
    }
}

/// Runs `discv4` and `discv5` on one socket (go-ethereum's default: both on the same UDP
/// port). Both records should name this socket's port. Each handle stops its own protocol;
/// the socket closes when both have stopped.
pub fn spawn_shared(
    socket: UdpSocket,
    discv4: Discv4,
    discv5: Discv5,
) -> std::io::Result<(Discv4Handle, Discv5Handle)> {
    let local_addr = socket.local_addr()?;
    let (v4_handle, v4_runner) = Discv4Handle::new(local_addr, discv4);
    let (v5_handle, v5_runner) = Discv5Handle::new(local_addr, discv5);
    tokio::spawn(run(socket, Some(v4_runner), Some(v5_runner)));
    Ok((v4_handle, v5_handle))
}
