//! The thin tokio driver around [`Discv5`]: owns the UDP socket, feeds datagrams and time in,
//! sends what comes out, answers each request's caller, and broadcasts the other events.
//! [`Discv5Handle`] sends it commands. (The same shape as the discv4 driver.)

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::codec::EncodeError;
use super::service::{
    CallId, Discv5, Event, RequestError, Response, Stats, TalkHandler, TalkId, TalkRequest,
    Transmit,
};
use super::session::NodeAddress;
use crate::kad::LookupId;
use crate::v4::Stopped;
use crate::{Enr, NodeId};

pub(crate) enum Command {
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
    ServeTalk(Vec<u8>, AsyncTalkHandler),
    TalkResponse(TalkId, Vec<u8>),
    AddNode(Enr),
    Lookup(NodeId, oneshot::Sender<Vec<Enr>>),
    RandomLookup(oneshot::Sender<Vec<Enr>>),
    SetLocalEnr(Enr, oneshot::Sender<Result<(), EncodeError>>),
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

/// Answers TALKREQ of one protocol in a task of its own: gets the requesting node and the
/// request, resolves to the response. At most [`ServiceConfig::max_talk_requests`] run at
/// once (more requests are dropped) and each gets [`ServiceConfig::talk_timeout`] (then it is
/// cancelled and the request dropped), as go-ethereum bounds its TALKREQ goroutines.
///
/// [`ServiceConfig::max_talk_requests`]: super::ServiceConfig::max_talk_requests
/// [`ServiceConfig::talk_timeout`]: super::ServiceConfig::talk_timeout
pub type AsyncTalkHandler = Arc<
    dyn Fn(NodeAddress, Vec<u8>) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send>> + Send + Sync,
>;

/// Controls a running discv5 driver; cheap to clone. Dropping every handle stops the driver.
#[derive(Clone)]
pub struct Discv5Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    local_addr: SocketAddr,
}

impl Discv5Handle {
    /// Runs `discv5` on `socket` in a new task (alone; [`crate::spawn_shared`] runs it beside
    /// discv4 on one port).
    pub fn spawn(socket: UdpSocket, discv5: Discv5) -> std::io::Result<Self> {
        let (handle, runner) = Self::new(socket.local_addr()?, discv5);
        tokio::spawn(crate::udp::run(socket, None, Some(runner)));
        Ok(handle)
    }

    /// A handle and the loop's side of it, for a socket bound to `local_addr`.
    pub(crate) fn new(local_addr: SocketAddr, discv5: Discv5) -> (Self, Runner) {
        let (commands, command_rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(1024);
        let runner = Runner {
            service: discv5,
            commands: command_rx,
            events: events.clone(),
            calls: HashMap::new(),
            lookups: HashMap::new(),
            talk_handlers: HashMap::new(),
            talk_replies: commands.downgrade(),
        };
        let handle = Discv5Handle {
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

    /// Answers TALKREQ of `protocol` with `handler`, in a task per request, bounded in number
    /// and time (see [`AsyncTalkHandler`]).
    pub async fn serve_talk_protocol(
        &self,
        protocol: Vec<u8>,
        handler: AsyncTalkHandler,
    ) -> Result<(), Stopped> {
        self.commands
            .send(Command::ServeTalk(protocol, handler))
            .await
            .map_err(|_| Stopped)
    }

    /// Answers TALKREQ of `protocol` with `handler`, run inline on the driver's task: for
    /// quick answers only ([`TalkHandler`]); anything slower belongs in
    /// [`Discv5Handle::serve_talk_protocol`].
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

    /// Runs a lookup of a random target to its end (what refreshes the table and what a
    /// node source runs when it needs candidates).
    pub async fn random_lookup(&self) -> Result<Vec<Enr>, Stopped> {
        self.ask(Command::RandomLookup).await
    }

    /// Replaces our record (a new endpoint, say); it must be signed by our key and have a
    /// higher sequence number for peers to take it.
    pub async fn set_local_enr(&self, enr: Enr) -> Result<(), CallError> {
        self.ask(|reply| Command::SetLocalEnr(enr, reply))
            .await?
            .map_err(|error| CallError::Request(error.into()))
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

    /// Stops discv5 (and closes the socket unless discv4 still runs on it).
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

type Reply = oneshot::Sender<Result<Response, RequestError>>;

/// discv5 as the socket loop ([`crate::udp`]) drives it: besides the state machine, the
/// callers waiting for each request's answer and each lookup's end.
pub(crate) struct Runner {
    pub(crate) service: Discv5,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    calls: HashMap<CallId, Reply>,
    lookups: HashMap<LookupId, oneshot::Sender<Vec<Enr>>>,
    talk_handlers: HashMap<Vec<u8>, AsyncTalkHandler>,
    /// Where handler tasks send their answers; weak, so that the handles alone keep the
    /// driver running.
    talk_replies: mpsc::WeakSender<Command>,
}

impl Runner {
    /// Runs the handler of a served TALKREQ in a task, cancelled at the request's deadline.
    fn spawn_talk(&self, request: TalkRequest) {
        let Some(handler) = self.talk_handlers.get(&request.protocol).cloned() else {
            return;
        };
        let Some(replies) = self.talk_replies.upgrade() else {
            return;
        };
        let deadline = self.service.talk_timeout();
        tokio::spawn(async move {
            let answer = tokio::time::timeout(deadline, handler(request.node, request.request));
            if let Ok(response) = answer.await {
                let _ = replies
                    .send(Command::TalkResponse(request.id, response))
                    .await;
            }
        });
    }
}

impl crate::udp::Side for Runner {
    type Command = Command;
    const NAME: &'static str = "discv5";

    fn commands(&mut self) -> &mut mpsc::Receiver<Command> {
        &mut self.commands
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.service.poll_transmit()
    }

    fn publish(&mut self) {
        while let Some(event) = self.service.poll_event() {
            match event {
                Event::Response { call, result } => {
                    if let Some(reply) = self.calls.remove(&call) {
                        let _ = reply.send(result);
                    }
                }
                Event::LookupFinished { id, nodes, .. } if self.lookups.contains_key(&id) => {
                    let reply = self.lookups.remove(&id).expect("checked");
                    let _ = reply.send(nodes);
                }
                Event::TalkRequest(request) => self.spawn_talk(request),
                event => {
                    let _ = self.events.send(event);
                }
            }
        }
        crate::metrics::v5_table_nodes(self.service.table().len());
    }

    fn poll_timeout(&self) -> Instant {
        self.service.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.service.handle_timeout(now);
    }

    fn apply(&mut self, now: Instant, command: Command) -> bool {
        let discv5 = &mut self.service;
        match command {
            Command::Ping(record, reply) => {
                self.calls.insert(discv5.ping(now, &record), reply);
            }
            Command::FindNode(record, distances, reply) => {
                self.calls
                    .insert(discv5.find_node(now, &record, distances), reply);
            }
            Command::Talk(record, protocol, request, reply) => {
                let call = discv5.talk_request(now, &record, protocol, request);
                self.calls.insert(call, reply);
            }
            Command::RegisterTalk(protocol, handler) => {
                self.talk_handlers.remove(&protocol);
                discv5.register_talk_protocol(protocol, handler);
            }
            Command::ServeTalk(protocol, handler) => {
                discv5.serve_talk_protocol(protocol.clone());
                self.talk_handlers.insert(protocol, handler);
            }
            Command::TalkResponse(id, response) => {
                discv5.respond_talk(id, response);
            }
            Command::AddNode(record) => discv5.add_node(now, record),
            Command::Lookup(target, reply) => {
                self.lookups.insert(discv5.lookup(now, target), reply);
            }
            Command::RandomLookup(reply) => {
                self.lookups.insert(discv5.random_lookup(now), reply);
            }
            Command::SetLocalEnr(enr, reply) => {
                let _ = reply.send(discv5.set_local_enr(enr));
            }
            Command::LocalEnr(reply) => {
                let _ = reply.send(discv5.local_enr().clone());
            }
            Command::TableNodes(reply) => {
                let nodes = discv5.table().nodes().map(|n| n.record.record.clone());
                let _ = reply.send(nodes.collect());
            }
            Command::Stats(reply) => {
                let _ = reply.send(discv5.stats());
            }
            Command::Shutdown(reply) => {
                let _ = reply.send(());
                return false;
            }
        }
        true
    }
}
