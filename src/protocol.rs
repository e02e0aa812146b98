//! The API a client developer implements: a [`Protocol`] is a name, a version, the number of
//! message codes it uses, and a handler that runs once per peer that matched it, in its own task,
//! reading and writing messages with codes `0..length` (modelled on go-ethereum's
//! `p2p.Protocol`; no capability is mandatory).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::metrics::Traffic;
use crate::p2p::{Capability, P2pError, ProtocolSpec, SharedCapability, encode_message};
use crate::rlpx::{HEADER_LEN, PeerId};

/// A message of a subprotocol. `code` is relative to the protocol: `0..length`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message code within the protocol.
    pub code: u64,
    /// Payload after snappy decompression (usually RLP).
    pub payload: Vec<u8>,
}

/// What a protocol handler returns on failure; the peer is then disconnected with
/// "subprotocol error" and the error text appears in the peer-removed event.
pub type ProtocolError = Box<dyn std::error::Error + Send + Sync>;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), ProtocolError>> + Send>>;
type Handler = dyn Fn(ProtocolPeer) -> HandlerFuture + Send + Sync;

/// A subprotocol served to every peer that advertises the same name and version.
#[derive(Clone)]
pub struct Protocol {
    /// Capability name, e.g. `eth`.
    pub name: String,
    /// Capability version.
    pub version: u32,
    /// How many message codes the protocol uses; it is given wire codes for exactly that many.
    pub length: u64,
    handler: Arc<Handler>,
}

impl Protocol {
    /// A protocol whose `handler` runs once per matched peer. Returning `Ok(())` ends the
    /// protocol and disconnects the peer with "client quitting"; returning an error disconnects
    /// it with "subprotocol error".
    ///
    /// ```
    /// use ethp2p::Protocol;
    /// let echo = Protocol::new("echo", 1, 2, |mut peer| async move {
    ///     while let Some(message) = peer.recv().await {
    ///         peer.send(message.code, &message.payload).await?;
    ///     }
    ///     Ok(())
    /// });
    /// assert_eq!(echo.length, 2);
    /// ```
    pub fn new<F, Fut>(name: impl Into<String>, version: u32, length: u64, handler: F) -> Self
    where
        F: Fn(ProtocolPeer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ProtocolError>> + Send + 'static,
    {
        Protocol {
            name: name.into(),
            version,
            length,
            handler: Arc::new(move |peer| Box::pin(handler(peer))),
        }
    }

    /// Name, version and length, as capability matching needs them.
    pub fn spec(&self) -> ProtocolSpec {
        ProtocolSpec::new(self.name.clone(), self.version, self.length)
    }

    pub(crate) fn run(&self, peer: ProtocolPeer) -> HandlerFuture {
        (self.handler)(peer)
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Protocol({}/{}, {} codes)",
            self.name, self.version, self.length
        )
    }
}

/// Who dialed whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote dialed us.
    Inbound,
    /// We dialed the remote.
    Outbound,
}

/// What is known about a connected peer; shared by all of its protocol tasks.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The peer's identity, proved by the RLPx handshake.
    pub id: PeerId,
    /// The remote socket address.
    pub remote_addr: SocketAddr,
    /// Our end of the TCP connection (what go-ethereum's `admin_peers` reports as
    /// `localAddress`), when the OS could tell it.
    pub local_addr: Option<SocketAddr>,
    /// Who dialed.
    pub direction: Direction,
    /// The client id from its Hello.
    pub client_id: String,
    /// The capabilities both sides share, with their wire offsets.
    pub capabilities: Vec<SharedCapability>,
    /// Every capability the remote announced in its Hello, shared or not.
    pub remote_capabilities: Vec<Capability>,
}

/// Why a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The code is not below the protocol's length.
    #[error("message code {code} is outside the protocol's {length} codes")]
    CodeOutOfRange {
        /// Code given.
        code: u64,
        /// The protocol's length.
        length: u64,
    },
    /// The message could not be encoded (too large).
    #[error(transparent)]
    Encode(#[from] P2pError),
    /// The peer is gone.
    #[error("peer disconnected")]
    PeerGone,
}

/// Sends messages of one protocol to one peer; cheap to clone into other tasks.
///
/// Encoding and snappy compression happen in the sending task; the peer's writer only seals and
/// writes. The queue to the writer is bounded, so a sender waits when the peer cannot keep up.
#[derive(Clone)]
pub struct MessageSender {
    capability: SharedCapability,
    snappy: bool,
    outbox: mpsc::Sender<Vec<u8>>,
    traffic: Traffic,
}

impl MessageSender {
    pub(crate) fn new(
        capability: SharedCapability,
        snappy: bool,
        outbox: mpsc::Sender<Vec<u8>>,
    ) -> Self {
        MessageSender {
            traffic: Traffic::outbound(&capability.name),
            capability,
            snappy,
            outbox,
        }
    }

    /// Sends a message with a protocol-relative `code`.
    pub async fn send(&self, code: u64, payload: &[u8]) -> Result<(), SendError> {
        let wire_code = self
            .capability
            .to_wire(code)
            .ok_or(SendError::CodeOutOfRange {
                code,
                length: self.capability.length,
            })?;
        let mut frame = Vec::with_capacity(HEADER_LEN + 16 + payload.len());
        frame.resize(HEADER_LEN, 0);
        encode_message(wire_code, payload, self.snappy, &mut frame)?;
        self.outbox
            .send(frame)
            .await
            .map_err(|_| SendError::PeerGone)?;
        self.traffic.record(payload.len());
        Ok(())
    }
}

/// A protocol handler's view of one peer: its identity, its messages for this protocol, and a
/// way to send.
pub struct ProtocolPeer {
    info: Arc<PeerInfo>,
    inbox: mpsc::Receiver<Message>,
    sender: MessageSender,
}

impl ProtocolPeer {
    pub(crate) fn new(
        info: Arc<PeerInfo>,
        inbox: mpsc::Receiver<Message>,
        sender: MessageSender,
    ) -> Self {
        ProtocolPeer {
            info,
            inbox,
            sender,
        }
    }

    /// The peer's identity, address and shared capabilities.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.info.id
    }

    /// The capability this handler serves, with its wire offset.
    pub fn capability(&self) -> &SharedCapability {
        &self.sender.capability
    }

    /// The next message for this protocol, or `None` once the peer is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        self.inbox.recv().await
    }

    /// Sends a message with a protocol-relative `code`.
    pub async fn send(&self, code: u64, payload: &[u8]) -> Result<(), SendError> {
        self.sender.send(code, payload).await
    }

    /// A sender for use from other tasks.
    pub fn sender(&self) -> MessageSender {
        self.sender.clone()
    }
}
