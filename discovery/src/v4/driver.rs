//! The thin tokio driver around [`Discv4`]: owns the UDP socket, feeds datagrams and time in,
//! sends what comes out, and broadcasts events. [`Discv4Handle`] sends it commands.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::packet::Endpoint;
use super::service::{Discv4, Event, Stats, Transmit};
use crate::enr::Enr;
use crate::kad::LookupId;
use crate::{Enode, PeerId};

pub(crate) enum Command {
    Lookup(PeerId, oneshot::Sender<LookupId>),
    RandomLookup(oneshot::Sender<LookupId>),
    Ping(Enode),
    RequestEnr(Enode),
    SetLocalEnr(Enr, Endpoint),
    BondedNodes(oneshot::Sender<Vec<(Enode, u64)>>),
    TableNodes(oneshot::Sender<Vec<Enode>>),
    Stats(oneshot::Sender<Stats>),
    Shutdown(oneshot::Sender<()>),
}

/// Controls a running discv4 driver; cheap to clone. Dropping every handle stops the driver.
#[derive(Clone)]
pub struct Discv4Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    local_addr: SocketAddr,
}

/// The driver stopped (shut down, or the socket failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("discovery is not running")]
pub struct Stopped;

impl Discv4Handle {
    /// Runs `discv4` on `socket` in a new task (alone; [`crate::spawn_shared`] runs it beside
    /// discv5 on one port).
    pub fn spawn(socket: UdpSocket, discv4: Discv4) -> std::io::Result<Self> {
        let (handle, runner) = Self::new(socket.local_addr()?, discv4);
        tokio::spawn(crate::udp::run(socket, Some(runner), None));
        Ok(handle)
    }

    /// A handle and the loop's side of it, for a socket bound to `local_addr`.
    pub(crate) fn new(local_addr: SocketAddr, discv4: Discv4) -> (Self, Runner) {
        let (commands, command_rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(1024);
        let runner = Runner {
            service: discv4,
            commands: command_rx,
            events: events.clone(),
        };
        let handle = Discv4Handle {
            commands,
            events,
            local_addr,
        };
        (handle, runner)
    }

    /// The UDP address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Events from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Starts a lookup of `target`; its result arrives as [`Event::LookupFinished`].
    pub async fn lookup(&self, target: PeerId) -> Result<LookupId, Stopped> {
        self.ask(|reply| Command::Lookup(target, reply)).await
    }

    /// Starts a lookup of a random target.
    pub async fn random_lookup(&self) -> Result<LookupId, Stopped> {
        self.ask(Command::RandomLookup).await
    }

    /// Pings a node; the answer arrives as [`Event::Pong`] or [`Event::PingTimeout`].
    pub async fn ping(&self, node: Enode) -> Result<(), Stopped> {
        self.commands
            .send(Command::Ping(node))
            .await
            .map_err(|_| Stopped)
    }

    /// Asks a node for its ENR; the answer arrives as [`Event::Enr`] or [`Event::EnrFailed`].
    pub async fn request_enr(&self, node: Enode) -> Result<(), Stopped> {
        self.commands
            .send(Command::RequestEnr(node))
            .await
            .map_err(|_| Stopped)
    }

    /// Replaces our record and advertised endpoint.
    pub async fn set_local_enr(&self, enr: Enr, endpoint: Endpoint) -> Result<(), Stopped> {
        self.commands
            .send(Command::SetLocalEnr(enr, endpoint))
            .await
            .map_err(|_| Stopped)
    }

    /// Table nodes with a recent PONG and its unix time (for the node database).
    pub async fn bonded_nodes(&self) -> Result<Vec<(Enode, u64)>, Stopped> {
        self.ask(Command::BondedNodes).await
    }

    /// Every node in the table.
    pub async fn table_nodes(&self) -> Result<Vec<Enode>, Stopped> {
        self.ask(Command::TableNodes).await
    }

    /// Packet counters.
    pub async fn stats(&self) -> Result<Stats, Stopped> {
        self.ask(Command::Stats).await
    }

    /// Stops discv4 (and closes the socket unless discv5 still runs on it).
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

/// discv4 as the socket loop ([`crate::udp`]) drives it.
pub(crate) struct Runner {
    pub(crate) service: Discv4,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
}

impl crate::udp::Side for Runner {
    type Command = Command;
    const NAME: &'static str = "discv4";

    fn commands(&mut self) -> &mut mpsc::Receiver<Command> {
        &mut self.commands
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.service.poll_transmit()
    }

    fn publish(&mut self) {
        while let Some(event) = self.service.poll_event() {
            let _ = self.events.send(event);
        }
        crate::metrics::table_nodes(self.service.table().len());
    }

    fn poll_timeout(&self) -> Instant {
        self.service.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.service.handle_timeout(now);
    }

    fn apply(&mut self, now: Instant, command: Command) -> bool {
        let discv4 = &mut self.service;
        match command {
            Command::Lookup(target, reply) => {
                let _ = reply.send(discv4.lookup(now, target));
            }
            Command::RandomLookup(reply) => {
                let _ = reply.send(discv4.random_lookup(now));
            }
            Command::Ping(node) => discv4.ping(now, node),
            Command::RequestEnr(node) => discv4.request_enr(now, node),
            Command::SetLocalEnr(enr, endpoint) => discv4.set_local_enr(enr, endpoint),
            Command::BondedNodes(reply) => {
                let _ = reply.send(discv4.bonded_nodes(now));
            }
            Command::TableNodes(reply) => {
                let _ = reply.send(discv4.table().nodes().map(|n| n.record).collect());
            }
            Command::Stats(reply) => {
                let _ = reply.send(discv4.stats());
            }
            Command::Shutdown(reply) => {
                let _ = reply.send(());
                return false;
            }
        }
        true
    }
}
