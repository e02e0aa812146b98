//! The thin tokio driver around [`Discv5`]: owns the UDP socket, feeds datagrams and time in,
//! sends what comes out, answers each request's caller, and broadcasts the other events.
//! [`Discv5Handle`] sends it commands. (The same shape as the discv4 driver.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::packet::MAX_PACKET_SIZE;
use super::service::{CallId, Discv5, Event, RequestError, Response, Stats, TalkHandler};
use crate::v4::{LookupId, Stopped};
use crate::{Enr, NodeId};

enum Command {
    Ping(Enr, oneshot::Sender<Result<Response, RequestError>>),
    FindNode(
        Enr,
        Vec<u16>,
        oneshot::Sender<Result<Response, RequestError>>,
    ),
    Talk(
        Enr,
        Vec<u8>,
        Vec<u8>,
        oneshot::Sender<Result<Response, RequestError>>,
    ),
    RegisterTalk(Vec<u8>, TalkHandler),
    AddNode(Enr),
    Lookup(NodeId, oneshot::Sender<Vec<Enr>>),
    LocalEnr(oneshot::Sender<Enr>),
    TableNodes(oneshot::Sender<Vec<Enr>>),
    Stats(oneshot::Sender<Stats>),
    Shutdown(oneshot::Sender<()>),
}

/// Why a request through the handle failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The protocol gave up on it.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The driver is not running.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The node answered with another kind of response (cannot happen; kept typed).
    #[error("unexpected response kind")]
    Unexpected,
}

/// A PONG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pong {
    /// The node's record sequence number.
    pub enr_seq: u64,
    /// Our address as the node saw it.
    pub to: SocketAddr,
}

/// Controls a running discv5 driver; cheap to clone. Dropping every handle stops the driver.
#[derive(Clone)]
pub struct Discv5Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    local_addr: SocketAddr,
}

impl Discv5Handle {
    /// Runs `discv5` on `socket` in a new task.
    pub fn spawn(socket: UdpSocket, discv5: Discv5) -> std::io::Result<Self> {
        let local_addr = socket.local_addr()?;
        let (commands, command_rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(1024);
        tokio::spawn(run(socket, discv5, command_rx, events.clone()));
        Ok(Discv5Handle {
            commands,
            events,
            local_addr,
        })
    }

    /// The UDP address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Events from now on (request answers go to their callers, not here).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Pings the node of `record`.
    pub async fn ping(&self, record: Enr) -> Result<Pong, CallError> {
        match self.ask(|reply| Command::Ping(record, reply)).await?? {
            Response::Pong { enr_seq, to } => Ok(Pong { enr_seq, to }),
            _ => Err(CallError::Unexpected),
        }
    }

    /// Asks the node of `record` for the records at `distances` from it (0 = its own).
    pub async fn find_node(&self, record: Enr, distances: Vec<u16>) -> Result<Vec<Enr>, CallError> {
        match self
            .ask(|reply| Command::FindNode(record, distances, reply))
            .await??
        {
            Response::Nodes(records) => Ok(records),
            _ => Err(CallError::Unexpected),
        }
    }

    /// Sends a TALKREQ of `protocol` to the node of `record`; returns its TALKRESP.
    pub async fn talk_request(
        &self,
        record: Enr,
        protocol: Vec<u8>,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, CallError> {
        match self
            .ask(|reply| Command::Talk(record, protocol, request, reply))
            .await??
        {
            Response::Talk(response) => Ok(response),
            _ => Err(CallError::Unexpected),
        }
    }

    /// Answers TALKREQ of `protocol` with `handler`.
    pub async fn register_talk_protocol(
        &self,
        protocol: Vec<u8>,
        handler: TalkHandler,
    ) -> Result<(), Stopped> {
        self.commands
            .send(Command::RegisterTalk(protocol, handler))
            .await
            .map_err(|_| Stopped)
    }

    /// Pings the node of `record`; it enters the table if it answers.
    pub async fn add_node(&self, record: Enr) -> Result<(), Stopped> {
        self.commands
            .send(Command::AddNode(record))
            .await
            .map_err(|_| Stopped)
    }

    /// Runs a lookup of `target` to its end; returns the closest nodes that answered.
    pub async fn lookup(&self, target: NodeId) -> Result<Vec<Enr>, Stopped> {
        self.ask(|reply| Command::Lookup(target, reply)).await
    }

    /// Our record.
    pub async fn local_enr(&self) -> Result<Enr, Stopped> {
        self.ask(Command::LocalEnr).await
    }

    /// The records of every node in the table.
    pub async fn table_nodes(&self) -> Result<Vec<Enr>, Stopped> {
        self.ask(Command::TableNodes).await
    }

    /// Packet counters.
    pub async fn stats(&self) -> Result<Stats, Stopped> {
        self.ask(Command::Stats).await
    }

    /// Stops the driver and closes the socket.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

type Reply = oneshot::Sender<Result<Response, RequestError>>;

async fn run(
    socket: UdpSocket,
    mut discv5: Discv5,
    mut commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
) {
    let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
    let mut calls: HashMap<CallId, Reply> = HashMap::new();
    let mut lookups: HashMap<LookupId, oneshot::Sender<Vec<Enr>>> = HashMap::new();
    loop {
        while let Some(transmit) = discv5.poll_transmit() {
            if let Err(error) = socket.send_to(&transmit.payload, transmit.to).await {
                tracing::debug!(to = %transmit.to, %error, "discv5 send failed");
            }
        }
        while let Some(event) = discv5.poll_event() {
            match event {
                Event::Response { call, result } => {
                    if let Some(reply) = calls.remove(&call) {
                        let _ = reply.send(result);
                    }
                }
                Event::LookupFinished { id, nodes, .. } if lookups.contains_key(&id) => {
                    let reply = lookups.remove(&id).expect("checked");
                    let _ = reply.send(nodes);
                }
                event => {
                    let _ = events.send(event);
                }
            }
        }
        let wake = tokio::time::Instant::from_std(discv5.poll_timeout());
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                // A datagram longer than a packet can be is not discv5; the codec rejects it.
                Ok((len, from)) => discv5.handle_datagram(Instant::now(), from, &buf[..len]),
                Err(error) => tracing::trace!(%error, "discv5 receive error"),
            },
            _ = tokio::time::sleep_until(wake) => discv5.handle_timeout(Instant::now()),
            command = commands.recv() => {
                let now = Instant::now();
                match command {
                    Some(Command::Ping(record, reply)) => {
                        calls.insert(discv5.ping(now, &record), reply);
                    }
                    Some(Command::FindNode(record, distances, reply)) => {
                        calls.insert(discv5.find_node(now, &record, distances), reply);
                    }
                    Some(Command::Talk(record, protocol, request, reply)) => {
                        calls.insert(discv5.talk_request(now, &record, protocol, request), reply);
                    }
                    Some(Command::RegisterTalk(protocol, handler)) => {
                        discv5.register_talk_protocol(protocol, handler);
                    }
                    Some(Command::AddNode(record)) => discv5.add_node(now, record),
                    Some(Command::Lookup(target, reply)) => {
                        lookups.insert(discv5.lookup(now, target), reply);
                    }
                    Some(Command::LocalEnr(reply)) => {
                        let _ = reply.send(discv5.local_enr().clone());
                    }
                    Some(Command::TableNodes(reply)) => {
                        let nodes = discv5.table().nodes().map(|n| n.record.record.clone());
                        let _ = reply.send(nodes.collect());
                    }
                    Some(Command::Stats(reply)) => {
                        let _ = reply.send(discv5.stats());
                    }
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        return;
                    }
                    None => return,
                }
            }
        }
    }
}
