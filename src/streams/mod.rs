//! Byte streams over a peer: many ordered, flow-controlled, bidirectional streams multiplexed
//! over the one RLPx connection a node already has with a peer, each opened with a protocol
//! name (like libp2p's protocol ids, or IPFS's `ipfs p2p`). [`ServerHandle::open_stream`]
//! returns a [`Stream`] (tokio's `AsyncRead + AsyncWrite`); [`ServerHandle::accept_streams`]
//! yields the streams peers open to a name, if [`Allow`] lets them.
//!
//! Turn it on with [`ServerConfig::streams`](crate::ServerConfig::streams): the node then
//! serves the `stream/1` subprotocol (see [`wire`] for its seven messages).
//!
//! # Why our own framing and not yamux
//!
//! RLPx already does what a multiplexer's transport would otherwise have to: it authenticates
//! and encrypts, and it delivers whole, size-limited messages in order. What is left is small: a
//! stream id on each message, open/accept/close/reset, and per-stream credit. yamux would
//! re-frame a byte pipe we would first have to build out of messages (its 12-byte headers inside
//! our frames, its own keep-alives beside devp2p's pings), bring a futures-io stack beside
//! tokio's, and its window updates would be opaque to our message limits. Seven RLP messages keep
//! one size check per message (the decoder refuses Data above [`wire::MAX_DATA`] and windows
//! above [`wire::MAX_WINDOW`]), one fuzz target, and no new dependency.
//!
//! # Flow control
//!
//! Each side announces a receive window (Open and Accept carry it, [`StreamConfig::window`]);
//! a writer may have at most that many bytes unconsumed by the remote reader. The reader grants
//! credit back (Window) as the application reads, once half the window is consumed. So a
//! stalled reader stops its writer after one window, other streams keep flowing, and neither
//! side buffers more than the window per stream: the receiver drops the peer (subprotocol
//! error) if it is sent more than it granted.
//!
//! # Ends
//!
//! `shutdown` half-closes (the remote reads EOF after the data); dropping a stream whose remote
//! half is still open resets it ([`ResetReason::Cancelled`]), like TCP's RST on close with unread
//! data; [`Stream::reset`] does so explicitly. When the peer goes, every stream with it fails
//! with [`StreamError::PeerGone`] once its buffered bytes are read.
//!
//! [`ServerHandle::open_stream`]: crate::ServerHandle::open_stream
//! [`ServerHandle::accept_streams`]: crate::ServerHandle::accept_streams

pub mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::protocol::{Direction, Protocol, ProtocolError, ProtocolPeer};
use crate::rlpx::PeerId;
pub use wire::{ResetReason, StreamMessage, WireError};

/// The capability name of the stream protocol.
pub const PROTOCOL_NAME: &str = "stream";
/// Its version.
pub const PROTOCOL_VERSION: u32 = 1;

/// Messages a peer may make us queue (refusals of its opens) before we give up on it: they are
/// the only replies a remote can cause without holding credit.
const MAX_QUEUED_CONTROL: usize = 4096;

/// Settings of the stream protocol.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Receive window per stream: bytes a remote writer may send before we grant more, and so
    /// the most a stream buffers on either side (default 1 MiB, at most [`wire::MAX_WINDOW`]).
    /// Throughput grows with it (benches/streams.rs, 64 KiB writes: 0.59 of raw RLPx at
    /// 256 KiB, 0.75 at 512 KiB, 0.89 at 1 MiB); so does the worst-case memory, window times
    /// `max_streams` per peer.
    pub window: u32,
    /// Streams open with one peer at most, both directions counted (default 256).
    pub max_streams: usize,
    /// Incoming streams waiting in a listener before more are refused (default 64).
    pub backlog: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            window: 1024 * 1024,
            max_streams: 256,
            backlog: 64,
        }
    }
}

/// Which peers may open streams to a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Every connected peer.
    All,
    /// Only these node ids.
    Only(HashSet<PeerId>),
}

impl Allow {
    fn allows(&self, peer: &PeerId) -> bool {
        match self {
            Allow::All => true,
            Allow::Only(ids) => ids.contains(peer),
        }
    }
}

/// Why a stream could not be opened, or ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The node was started without [`ServerConfig::streams`](crate::ServerConfig::streams).
    #[error("byte streams are not enabled on this node")]
    Disabled,
    /// The peer is not connected.
    #[error("peer {0} is not connected")]
    NotConnected(PeerId),
    /// The peer is connected but does not speak `stream/1`.
    #[error("peer {0} does not support byte streams")]
    Unsupported(PeerId),
    /// The name is empty or longer than [`wire::MAX_NAME_LEN`].
    #[error("stream protocol names are 1 to 128 bytes")]
    BadName,
    /// Someone already listens for this name on this node.
    #[error("already listening for {0:?}")]
    AlreadyListening(String),
    /// We have [`StreamConfig::max_streams`] streams with this peer.
    #[error("too many streams open with this peer")]
    TooManyStreams,
    /// The remote refused to open the stream.
    #[error("stream refused: {0}")]
    Refused(ResetReason),
    /// The remote reset the stream.
    #[error("stream reset by the remote: {0}")]
    Reset(ResetReason),
    /// This side reset the stream.
    #[error("stream reset locally")]
    LocalReset,
    /// The peer disconnected (or the node shut down).
    #[error("peer disconnected")]
    PeerGone,
    /// Written after `shutdown`.
    #[error("stream already shut down for writing")]
    WriteAfterShutdown,
}

impl From<StreamError> for io::Error {
    fn from(error: StreamError) -> Self {
        let kind = match error {
            StreamError::Refused(_) => io::ErrorKind::ConnectionRefused,
            StreamError::Reset(_) | StreamError::LocalReset => io::ErrorKind::ConnectionReset,
            StreamError::PeerGone => io::ErrorKind::ConnectionAborted,
            StreamError::WriteAfterShutdown => io::ErrorKind::BrokenPipe,
            StreamError::NotConnected(_) => io::ErrorKind::NotConnected,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, error)
    }
}

/// Bytes moved through one stream, readable while it is in use.
#[derive(Debug, Default)]
pub struct StreamCounters {
    sent: AtomicU64,
    received: AtomicU64,
}

impl StreamCounters {
    /// Bytes written (accepted for sending).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes read by the application.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// A stream's state, shared by its [`Stream`] handle and the peer's reader.
struct Shared {
    id: u64,
    peer: PeerId,
    name: String,
    counters: Arc<StreamCounters>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Received chunks not yet read; `offset` into the first.
    recv: VecDeque<Vec<u8>>,
    offset: usize,
    /// What the remote may still send before we grant more.
    recv_window: u64,
    /// Read since the last grant.
    consumed: u64,
    /// The remote sent Close.
    recv_closed: bool,
    /// Our receive window (what `recv_window`, the unread and the consumed bytes add up to).
    window: u64,
    /// What we may still send.
    send_credit: u64,
    /// We sent Close.
    send_closed: bool,
    /// Reset either way, refused, or the peer went: no more messages for this stream.
    error: Option<StreamError>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl State {
    fn fail(&mut self, error: StreamError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
    }
}

/// A message queued for the peer's writer, already encoded.
struct Outgoing {
    code: u64,
    payload: Vec<u8>,
}

struct Entry {
    shared: Arc<Shared>,
    /// Completes `open` when Accept or a refusal arrives.
    opening: Option<oneshot::Sender<Result<(), StreamError>>>,
}

#[derive(Default)]
struct LinkState {
    streams: HashMap<u64, Entry>,
    next_id: u64,
    /// The highest id the remote opened: ids only grow, so none is reused.
    last_remote_id: u64,
    closed: bool,
}

/// Our streams with one connected peer and the queue to its writer.
pub(crate) struct Link {
    peer: PeerId,
    /// Parity of the ids we pick: odd if we dialed, even if they did.
    our_parity: u64,
    out: mpsc::UnboundedSender<Outgoing>,
    /// Control messages (all but Data, which credit bounds) waiting for the writer.
    queued: AtomicUsize,
    state: Mutex<LinkState>,
}

impl Link {
    /// Queues a message; false once the peer's writer is gone.
    fn send(&self, message: StreamMessage<'_>) -> bool {
        let (code, payload) = message.encode();
        if code != wire::DATA {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        self.out.send(Outgoing { code, payload }).is_ok()
    }

    /// Ends every stream with `error` and refuses new ones.
    fn close_all(&self, error: StreamError) {
        let mut link = self.state.lock();
        link.closed = true;
        for (_, entry) in link.streams.drain() {
            entry.shared.state.lock().fail(error.clone());
            if let Some(opening) = entry.opening {
                let _ = opening.send(Err(error.clone()));
            }
        }
    }
}

struct Listener {
    generation: u64,
    allow: Allow,
    sender: mpsc::Sender<(PeerId, Stream)>,
}

/// The node's stream registry: one [`Link`] per connected peer, one listener per name.
pub(crate) struct Hub {
    config: StreamConfig,
    links: Mutex<HashMap<PeerId, Arc<Link>>>,
    listeners: Mutex<HashMap<String, Listener>>,
    next_generation: AtomicU64,
    /// Wakes `open` calls waiting for a just-connected peer's link.
    attached: Notify,
}

impl Hub {
    pub(crate) fn new(mut config: StreamConfig) -> Arc<Self> {
        config.window = config.window.clamp(1, wire::MAX_WINDOW as u32);
        config.backlog = config.backlog.max(1);
        Arc::new(Hub {
            config,
            links: Mutex::default(),
            listeners: Mutex::default(),
            next_generation: AtomicU64::new(0),
            attached: Notify::new(),
        })
    }

    /// The `stream/1` protocol whose handler runs [`Hub::serve`] for each peer.
    pub(crate) fn protocol(self: &Arc<Self>) -> Protocol {
        let hub = self.clone();
        Protocol::new(PROTOCOL_NAME, PROTOCOL_VERSION, wire::LENGTH, move |peer| {
            hub.clone().serve(peer)
        })
    }

    /// Whether the link of a peer is attached yet; `Notified` registered before checking.
    pub(crate) async fn wait_link(&self, peer: &PeerId) -> Option<Arc<Link>> {
        let notified = self.attached.notified();
        if let Some(link) = self.links.lock().get(peer) {
            return Some(link.clone());
        }
        notified.await;
        self.links.lock().get(peer).cloned()
    }

    /// Drops every listener, so their `accept` returns `None` (the node is shutting down).
    pub(crate) fn stop_listening(&self) {
        self.listeners.lock().clear();
    }

    pub(crate) fn link(&self, peer: &PeerId) -> Option<Arc<Link>> {
        self.links.lock().get(peer).cloned()
    }

    pub(crate) fn listen(
        self: &Arc<Self>,
        name: &str,
        allow: Allow,
    ) -> Result<StreamListener, StreamError> {
        check_name(name)?;
        let mut listeners = self.listeners.lock();
        if listeners
            .get(name)
            .is_some_and(|listener| !listener.sender.is_closed())
        {
            return Err(StreamError::AlreadyListening(name.to_string()));
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(self.config.backlog);
        listeners.insert(
            name.to_string(),
            Listener {
                generation,
                allow,
                sender,
            },
        );
        Ok(StreamListener {
            name: name.to_string(),
            generation,
            receiver,
            hub: self.clone(),
        })
    }

    /// Asks the peer behind `link` whether it would accept a stream to `name` from us.
    pub(crate) async fn probe(&self, link: Arc<Link>, name: &str) -> Result<(), StreamError> {
        let question = self.request(link, name, true).await?;
        // Nothing was opened on the other side: forget the id without a Reset.
        question.shared.state.lock().error = Some(StreamError::LocalReset);
        Ok(())
    }

    /// Opens a stream to `name` on the peer behind `link` and waits for its answer.
    pub(crate) async fn open(&self, link: Arc<Link>, name: &str) -> Result<Stream, StreamError> {
        self.request(link, name, false).await
    }

    /// Sends Open (or Probe) and waits for Accept or the refusal.
    async fn request(
        &self,
        link: Arc<Link>,
        name: &str,
        probe: bool,
    ) -> Result<Stream, StreamError> {
        check_name(name)?;
        let (done, answer) = oneshot::channel();
        let stream = {
            let mut state = link.state.lock();
            if state.closed {
                return Err(StreamError::PeerGone);
            }
            if state.streams.len() >= self.config.max_streams {
                return Err(StreamError::TooManyStreams);
            }
            let id = state.next_id * 2 + link.our_parity;
            state.next_id += 1;
            let shared = self.new_shared(id, link.peer, name);
            state.streams.insert(
                id,
                Entry {
                    shared: shared.clone(),
                    opening: Some(done),
                },
            );
            let window = u64::from(self.config.window);
            let message = if probe {
                StreamMessage::Probe { id, name }
            } else {
                StreamMessage::Open { id, name, window }
            };
            if !link.send(message) {
                return Err(StreamError::PeerGone);
            }
            // From here, dropping the future drops the stream, which resets it.
            Stream {
                shared,
                link: link.clone(),
            }
        };
        match answer.await {
            Ok(Ok(())) => {
                if !probe {
                    crate::metrics::stream_opened(true);
                }
                Ok(stream)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(StreamError::PeerGone),
        }
    }

    fn new_shared(&self, id: u64, peer: PeerId, name: &str) -> Arc<Shared> {
        Arc::new(Shared {
            id,
            peer,
            name: name.to_string(),
            counters: Arc::default(),
            state: Mutex::new(State {
                recv_window: u64::from(self.config.window),
                window: u64::from(self.config.window),
                ..State::default()
            }),
        })
    }

    /// The handler of `stream/1` for one peer: a writer draining the peer's queue, and a reader
    /// dispatching its messages, until the peer goes.
    async fn serve(self: Arc<Self>, mut peer: ProtocolPeer) -> Result<(), ProtocolError> {
        let (out, mut queue) = mpsc::unbounded_channel::<Outgoing>();
        let link = Arc::new(Link {
            peer: peer.id(),
            our_parity: u64::from(peer.info().direction == Direction::Outbound),
            out,
            queued: AtomicUsize::new(0),
            state: Mutex::new(LinkState {
                next_id: 1, // ids start at 2 or 3: 0 and 1 are never used
                ..LinkState::default()
            }),
        });
        self.links.lock().insert(link.peer, link.clone());
        self.attached.notify_waiters();
        let sender = peer.sender();
        let writer = async {
            while let Some(message) = queue.recv().await {
                if message.code != wire::DATA {
                    link.queued.fetch_sub(1, Ordering::Relaxed);
                }
                if sender.send(message.code, &message.payload).await.is_err() {
                    break;
                }
            }
        };
        let reader = async {
            while let Some(message) = peer.recv().await {
                let message = StreamMessage::decode(message.code, &message.payload)?;
                self.dispatch(&link, message)?;
            }
            Ok::<(), ProtocolError>(())
        };
        let result = tokio::select! {
            result = reader => result,
            () = writer => Ok(()),
        };
        {
            let mut links = self.links.lock();
            if links.get(&link.peer).is_some_and(|l| Arc::ptr_eq(l, &link)) {
                links.remove(&link.peer);
            }
        }
        link.close_all(StreamError::PeerGone);
        if let Err(error) = &result {
            tracing::debug!(peer = %link.peer, %error, "stream protocol error");
        }
        result
    }

    fn dispatch(&self, link: &Arc<Link>, message: StreamMessage<'_>) -> Result<(), ProtocolError> {
        let id = message.id();
        match message {
            StreamMessage::Open { name, window, .. } => {
                return self.remote_open(link, id, name, Some(window));
            }
            StreamMessage::Probe { name, .. } => return self.remote_open(link, id, name, None),
            _ => {}
        }
        let mut state = link.state.lock();
        let Some(entry) = state.streams.get_mut(&id) else {
            // A stream we reset or dropped: messages in flight are expected.
            return Ok(());
        };
        match message {
            StreamMessage::Open { .. } | StreamMessage::Probe { .. } => {
                unreachable!("handled above")
            }
            StreamMessage::Accept { window, .. } => {
                let Some(opening) = entry.opening.take() else {
                    return Err("Accept for a stream already open".into());
                };
                entry.shared.state.lock().send_credit = window;
                let _ = opening.send(Ok(()));
            }
            StreamMessage::Data { bytes, .. } => {
                if entry.opening.is_some() {
                    return Err("Data before Accept".into());
                }
                let mut stream = entry.shared.state.lock();
                if stream.recv_closed {
                    return Err("Data after Close".into());
                }
                let len = bytes.len() as u64;
                if len > stream.recv_window {
                    return Err(format!(
                        "stream {id}: {len} bytes sent with {} bytes of credit",
                        stream.recv_window
                    )
                    .into());
                }
                stream.recv_window -= len;
                // Small chunks join the last one, so tiny messages cost no more memory than
                // their bytes.
                match stream.recv.back_mut() {
                    Some(last) if bytes.len() < 4096 && last.len() < wire::MAX_DATA => {
                        last.extend_from_slice(bytes)
                    }
                    _ if bytes.is_empty() => {}
                    _ => stream.recv.push_back(bytes.to_vec()),
                }
                if let Some(waker) = stream.read_waker.take() {
                    waker.wake();
                }
            }
            StreamMessage::Window { credit, .. } => {
                let mut stream = entry.shared.state.lock();
                stream.send_credit = stream.send_credit.saturating_add(credit);
                if stream.send_credit > wire::MAX_WINDOW {
                    return Err(format!("stream {id}: credit above the largest window").into());
                }
                if let Some(waker) = stream.write_waker.take() {
                    waker.wake();
                }
            }
            StreamMessage::Close { .. } => {
                let mut stream = entry.shared.state.lock();
                stream.recv_closed = true;
                if let Some(waker) = stream.read_waker.take() {
                    waker.wake();
                }
            }
            StreamMessage::Reset { reason, .. } => {
                let entry = state.streams.remove(&id).expect("looked up above");
                match entry.opening {
                    Some(opening) => {
                        entry.shared.state.lock().fail(StreamError::Refused(reason));
                        let _ = opening.send(Err(StreamError::Refused(reason)));
                    }
                    None => entry.shared.state.lock().fail(StreamError::Reset(reason)),
                }
            }
        }
        Ok(())
    }

    /// An Open (`window` set) or a Probe (`None`, answered the same way; nothing is opened).
    fn remote_open(
        &self,
        link: &Arc<Link>,
        id: u64,
        name: &str,
        window: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let mut state = link.state.lock();
        if id % 2 == link.our_parity || id <= state.last_remote_id {
            return Err(format!("Open with stream id {id}, which is not the peer's to use").into());
        }
        state.last_remote_id = id;
        let refuse = |reason| {
            if link.queued.load(Ordering::Relaxed) >= MAX_QUEUED_CONTROL {
                return Err::<(), ProtocolError>("peer does not read our refusals".into());
            }
            link.send(StreamMessage::Reset { id, reason });
            crate::metrics::stream_refused(reason);
            tracing::debug!(peer = %link.peer, name, %reason, "refused a stream");
            Ok(())
        };
        if state.streams.len() >= self.config.max_streams {
            return refuse(ResetReason::TooManyStreams);
        }
        let listeners = self.listeners.lock();
        let Some(listener) = listeners.get(name).filter(|l| !l.sender.is_closed()) else {
            return refuse(ResetReason::NoListener);
        };
        if !listener.allow.allows(&link.peer) {
            return refuse(ResetReason::NotAllowed);
        }
        let Some(window) = window else {
            if link.queued.load(Ordering::Relaxed) >= MAX_QUEUED_CONTROL {
                return Err("peer does not read our answers".into());
            }
            link.send(StreamMessage::Accept { id, window: 0 });
            return Ok(());
        };
        let Ok(permit) = listener.sender.try_reserve() else {
            return refuse(ResetReason::Backlog);
        };
        let shared = self.new_shared(id, link.peer, name);
        shared.state.lock().send_credit = window;
        state.streams.insert(
            id,
            Entry {
                shared: shared.clone(),
                opening: None,
            },
        );
        // Accept goes out before anything the application writes on the stream.
        link.send(StreamMessage::Accept {
            id,
            window: u64::from(self.config.window),
        });
        crate::metrics::stream_opened(false);
        permit.send((
            link.peer,
            Stream {
                shared,
                link: link.clone(),
            },
        ));
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), StreamError> {
    if name.is_empty() || name.len() > wire::MAX_NAME_LEN {
        return Err(StreamError::BadName);
    }
    Ok(())
}

/// Incoming streams for one protocol name, from the peers [`Allow`] lets in. Dropping it stops
/// listening: later opens are refused with [`ResetReason::NoListener`].
pub struct StreamListener {
    name: String,
    generation: u64,
    receiver: mpsc::Receiver<(PeerId, Stream)>,
    hub: Arc<Hub>,
}

impl std::fmt::Debug for StreamListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamListener({:?})", self.name)
    }
}

impl StreamListener {
    /// The next stream a peer opened, with the peer's id; `None` once the node shut down.
    pub async fn accept(&mut self) -> Option<(PeerId, Stream)> {
        self.receiver.recv().await
    }

    /// The name listened for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for StreamListener {
    fn drop(&mut self) {
        let mut listeners = self.hub.listeners.lock();
        if listeners
            .get(&self.name)
            .is_some_and(|l| l.generation == self.generation)
        {
            listeners.remove(&self.name);
        }
    }
}

/// One byte stream with a peer: ordered, flow-controlled, closed by `shutdown` (the remote
/// reads EOF), reset by [`reset`](Self::reset) or by dropping it before both halves closed.
pub struct Stream {
    shared: Arc<Shared>,
    link: Arc<Link>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Stream({} #{} with {})",
            self.shared.name, self.shared.id, self.shared.peer
        )
    }
}

impl Stream {
    /// The remote peer.
    pub fn peer(&self) -> PeerId {
        self.shared.peer
    }

    /// The protocol name it was opened with.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Its id on the connection.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Byte counters, shareable with a task that reports them while the stream is used.
    pub fn counters(&self) -> Arc<StreamCounters> {
        self.shared.counters.clone()
    }

    /// Bytes this side may still send before the remote grants more: what a stalled remote
    /// reader leaves us (zero once a whole window is in flight).
    pub fn send_credit(&self) -> u64 {
        self.shared.state.lock().send_credit
    }

    /// Abandons the stream both ways: the remote's reads and writes fail with
    /// [`StreamError::Reset`]`(`[`ResetReason::Cancelled`]`)`, ours with
    /// [`StreamError::LocalReset`].
    pub fn reset(&self) {
        let mut state = self.shared.state.lock();
        if state.error.is_some() {
            return;
        }
        state.fail(StreamError::LocalReset);
        drop(state);
        self.link.send(StreamMessage::Reset {
            id: self.shared.id,
            reason: ResetReason::Cancelled,
        });
        self.link.state.lock().streams.remove(&self.shared.id);
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut state = this.shared.state.lock();
        if state.recv.is_empty() {
            if let Some(error) = &state.error {
                return Poll::Ready(Err(error.clone().into()));
            }
            if state.recv_closed {
                return Poll::Ready(Ok(()));
            }
            state.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut read = 0;
        while buf.remaining() > 0 {
            let offset = state.offset;
            let Some(chunk) = state.recv.front() else {
                break;
            };
            let n = buf.remaining().min(chunk.len() - offset);
            buf.put_slice(&chunk[offset..offset + n]);
            read += n;
            if offset + n == chunk.len() {
                state.recv.pop_front();
                state.offset = 0;
            } else {
                state.offset += n;
            }
        }
        this.shared
            .counters
            .received
            .fetch_add(read as u64, Ordering::Relaxed);
        state.consumed += read as u64;
        // Grant credit once half the window is read: few Window messages, and the writer
        // never waits on a round trip while it still has the other half.
        if state.error.is_none() && !state.recv_closed && state.consumed * 2 >= state.window {
            let credit = std::mem::take(&mut state.consumed);
            state.recv_window += credit;
            this.link.send(StreamMessage::Window {
                id: this.shared.id,
                credit,
            });
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut state = this.shared.state.lock();
        if let Some(error) = &state.error {
            return Poll::Ready(Err(error.clone().into()));
        }
        if state.send_closed {
            return Poll::Ready(Err(StreamError::WriteAfterShutdown.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if state.send_credit == 0 {
            state.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf
            .len()
            .min(wire::MAX_DATA)
            .min(usize::try_from(state.send_credit).unwrap_or(usize::MAX));
        state.send_credit -= n as u64;
        let sent = this.link.send(StreamMessage::Data {
            id: this.shared.id,
            bytes: &buf[..n],
        });
        if !sent {
            state.fail(StreamError::PeerGone);
            return Poll::Ready(Err(StreamError::PeerGone.into()));
        }
        this.shared
            .counters
            .sent
            .fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes are queued for the peer's connection already; the window bounds them.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut state = this.shared.state.lock();
        if let Some(error) = &state.error {
            return Poll::Ready(Err(error.clone().into()));
        }
        if !state.send_closed {
            state.send_closed = true;
            this.link.send(StreamMessage::Close { id: this.shared.id });
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        if state.error.is_none() {
            if !state.recv_closed {
                state.error = Some(StreamError::LocalReset);
                self.link.send(StreamMessage::Reset {
                    id: self.shared.id,
                    reason: ResetReason::Cancelled,
                });
            } else if !state.send_closed {
                state.send_closed = true;
                self.link.send(StreamMessage::Close { id: self.shared.id });
            }
        }
        drop(state);
        self.link.state.lock().streams.remove(&self.shared.id);
    }
}
