//! The ethp2p manual: how the pieces fit, what the defaults are, and what happens at each
//! limit. Documentation only; nothing here is code you call.
//!
//! Chapters:
//! 1. [`quick_start`]: two nodes and an echo protocol.
//! 2. [`concepts`]: capabilities and message-code offsets, one task per protocol per peer,
//!    events, subscriptions, limits.
//! 3. [`configuration`]: every [`ServerConfig`](crate::ServerConfig) setting and its default.
//! 4. [`errors`]: why a connection or a session ends, and the Disconnect reason each sends.
//! 5. [`discovery_and_nat`]: finding peers and being found.
//! 6. [`observability`]: logs, counters, metrics.
//! 7. [`streams`]: byte streams over a peer, each opened with a protocol name.

pub mod quick_start {
    //! # Quick start
    //!
    //! A node is a [`Server`](crate::Server) started from a
    //! [`ServerConfig`](crate::ServerConfig): a key, a listen address and the
    //! [`Protocol`](crate::Protocol)s it serves. Starting returns a
    //! [`ServerHandle`](crate::ServerHandle) for peers, events and shutdown.
    //!
    //! Below, node A serves `echo/1`, which sends every message back; node B serves a protocol
    //! of the same name and version that sends one message, waits for its echo and returns.
    //! B dials A as a static peer. Both listen on port 0 on 127.0.0.1, so the example runs
    //! anywhere.
    //!
    //! ```
    //! use std::net::SocketAddr;
    //! use ethp2p::rlpx::random_secret_key;
    //! use ethp2p::{Protocol, Server, ServerConfig};
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let local = SocketAddr::from(([127, 0, 0, 1], 0));
    //!
    //! // Node A: answers every message with the same code and payload.
    //! let echo = Protocol::new("echo", 1, 1, |mut peer| async move {
    //!     while let Some(message) = peer.recv().await {
    //!         peer.send(message.code, &message.payload).await?;
    //!     }
    //!     Ok(())
    //! });
    //! let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    //! config.listen_addr = Some(local);
    //! config.protocols = vec![echo];
    //! let a = Server::start(config).await?;
    //!
    //! // Node B: sends "hello" once and reports what came back.
    //! let (report, mut reports) = tokio::sync::mpsc::channel(1);
    //! let client = Protocol::new("echo", 1, 1, move |mut peer| {
    //!     let report = report.clone();
    //!     async move {
    //!         peer.send(0, b"hello").await?;
    //!         let answer = peer.recv().await.ok_or("peer left")?;
    //!         report.send(answer.payload).await?;
    //!         Ok(()) // ends the protocol: B disconnects with "client quitting"
    //!     }
    //! });
    //! let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    //! config.listen_addr = Some(local);
    //! config.protocols = vec![client];
    //! let b = Server::start(config).await?;
    //!
    //! b.add_peer(a.local_enode());
    //! assert_eq!(reports.recv().await.as_deref(), Some(&b"hello"[..]));
    //!
    //! b.shutdown().await;
    //! a.shutdown().await;
    //! # Ok(()) }
    //! ```
    //!
    //! A key from a go-ethereum `nodekey` file works the same way (it is the hex secret key);
    //! [`ServerHandle::local_enode`](crate::ServerHandle::local_enode) is the `enode://` URL
    //! other nodes dial.
}

pub mod concepts {
    //! # Concepts
    //!
    //! ## Capabilities and message-code offsets
    //!
    //! Each [`Protocol`](crate::Protocol) is a capability `name/version` with a `length`, the
    //! number of message codes it uses. In the Hello exchange both sides list their
    //! capabilities; [`match_capabilities`](crate::p2p::match_capabilities) keeps those both
    //! announce with the same name and version (names are case-sensitive), keeps only the
    //! highest shared version of each name, sorts them by name and gives each a contiguous
    //! range of wire codes after the base protocol's 16 (`0x00..0x10`: Hello, Disconnect,
    //! Ping, Pong). With `eth/68` (17 codes) and `snap/1` (8), eth owns wire codes
    //! `0x10..0x21` and snap `0x21..0x29`.
    //!
    //! A handler never sees that arithmetic: [`ProtocolPeer::recv`](crate::ProtocolPeer::recv)
    //! yields codes from 0, and [`ProtocolPeer::send`](crate::ProtocolPeer::send) takes codes
    //! from 0, refusing one at or above `length` with
    //! [`SendError::CodeOutOfRange`](crate::SendError::CodeOutOfRange). The offset of a
    //! session is in [`ProtocolPeer::capability`](crate::ProtocolPeer::capability). No
    //! capability is mandatory: a node that serves only your own protocol is a complete node.
    //!
    //! A peer that shares no capability with us is refused with "useless peer".
    //!
    //! ## One protocol task per peer
    //!
    //! When a peer has completed the RLPx handshake and Hello, every matched protocol's handler
    //! runs once for that peer, in its own tokio task, with a
    //! [`ProtocolPeer`](crate::ProtocolPeer): the peer's [`PeerInfo`](crate::PeerInfo), an
    //! inbox of the messages for this protocol, and a sender. Clone
    //! [`ProtocolPeer::sender`](crate::ProtocolPeer::sender) to send from other tasks.
    //!
    //! The handler's return value ends the whole session, not just the protocol: `Ok(())`
    //! disconnects the peer with "client quitting", an error with "subprotocol error" (the
    //! error text is kept in the [`EndCause`](crate::peer::EndCause)). Messages a handler
    //! already sent are written before our Disconnect, so a handler may send its last words
    //! and return. When the session ends for any reason, `recv` still yields what was read
    //! before the end, then `None`, and `send` fails with
    //! [`SendError::PeerGone`](crate::SendError::PeerGone); a handler that has not returned
    //! 1 s after the end is stopped.
    //!
    //! Each peer also has a read loop (decrypts frames, answers Ping, routes messages to
    //! inboxes or subscriptions) and a write loop (seals queued frames, and keeps the session's
    //! time: a Ping every `ping_interval`, the read and write timeouts, all from one sans-IO
    //! state that takes `now` and names its next deadline). Message encoding and snappy
    //! compression happen in the task that sends.
    //!
    //! ## Events
    //!
    //! [`ServerHandle::events`](crate::ServerHandle::events) is a broadcast stream of
    //! [`PeerEvent`](crate::PeerEvent)s from the moment of the call: `Added` when a peer's
    //! protocols start, `Removed` with a [`PeerEnd`](crate::peer::PeerEnd) (cause, the reason
    //! sent, the reason received), `HandshakeFailed` for a connection that never became a
    //! peer, and `DuplicateClosed` when two nodes dialed each other at once and one of the two
    //! connections was closed (both keep the connection dialed by the node with the lower id;
    //! this is not counted as a failure). The stream holds
    //! [`ServerConfig::event_capacity`](crate::ServerConfig::event_capacity) events; a receiver
    //! further behind than that gets `RecvError::Lagged` and misses the oldest ones. The server
    //! never waits for a receiver. [`ServerHandle::stats`](crate::ServerHandle::stats) gives
    //! counters since start without listening.
    //!
    //! ## Subscriptions
    //!
    //! The second way to consume messages:
    //! [`ServerHandle::subscribe`](crate::ServerHandle::subscribe) takes a protocol name and a
    //! protocol-relative code and returns a [`Subscription`](crate::Subscription) that receives
    //! those messages from every peer, tagged with the sender's id. While it lives, those
    //! messages no longer reach the protocol's handler; once it is dropped, they do again.
    //! Subscribing to a pair again replaces the earlier subscription. The queue holds
    //! `capacity` messages (at least 1); when it is full the message is dropped, counted in
    //! [`Subscription::dropped`](crate::Subscription::dropped), and logged once. The peer's
    //! read loop never waits for a subscriber.
    //!
    //! ## Limits, and what happens when one is exceeded
    //!
    //! | limit | default | when exceeded |
    //! |---|---|---|
    //! | `max_peers` (trusted peers not counted) | 50 | the new peer is refused with "too many peers" |
    //! | dialed peers, `max_peers / dial_ratio` | 16 | the dialer uses no more dial slots |
    //! | inbound peers, `max_peers` minus the dialed share | 34 | a new inbound peer is refused with "too many peers" |
    //! | `max_pending` inbound handshakes | 50 | the oldest handshake that has not sent a valid auth is dropped ([`SetupError::Evicted`](crate::server::SetupError::Evicted)); when all have, the listener waits for a slot |
    //! | `inbound_throttle` per non-LAN IP | 30 s | a second connection from that IP within it is closed before the handshake |
    //! | `handshake_timeout` (RLPx + Hello) | 5 s | the connection is closed ([`SetupError::Timeout`](crate::server::SetupError::Timeout)) |
    //! | `dial_timeout` (TCP connect) | 15 s | the dial fails ([`SetupError::ConnectTimeout`](crate::server::SetupError::ConnectTimeout)) |
    //! | `max_frame_size` | 2^24 - 1 bytes | the frame is refused from its header, before its body is read; the session ends with "breach of protocol" |
    //! | `peer.max_message_size` (after snappy) | 16 MiB | checked against the length snappy announces, before decompressing; "breach of protocol" |
    //! | `peer.read_timeout` | 30 s | nothing arrived, not even a Pong, while the read loop waited for a frame (not while it waited for a slow handler): "ping timeout" |
    //! | `peer.write_timeout` | 20 s | the remote did not take our data; the session ends without a Disconnect |
    //! | `peer.inbox_capacity` per protocol | 16 messages | the read loop waits for the handler (back-pressure on that peer) |
    //! | `peer.outbox_capacity` per peer | 64 frames | `send` waits until the socket takes frames |
    //! | `event_capacity` | 1024 events | slow receivers lag and miss events |
    //! | subscription `capacity` | chosen per call | the message is dropped and counted |
}

pub mod configuration {
    //! # Configuration
    //!
    //! [`ServerConfig::new`](crate::ServerConfig::new) takes the node key and fills in the rest;
    //! change the public fields before [`Server::start`](crate::Server::start). The defaults
    //! follow go-ethereum unless noted.
    //!
    //! | field | default | meaning |
    //! |---|---|---|
    //! | `listen_addr` | `Some([::]:30303)` | TCP (and UDP) listen address, IPv4 and IPv6 on `[::]`; port 0 picks one; `None` dials only |
    //! | `client_id` | `ethp2p/v` + crate version | sent in Hello |
    //! | `protocols` | none | served to matching peers |
    //! | `max_peers` | 50 | trusted peers not counted |
    //! | `dial_ratio` | 3 | at most `max_peers / dial_ratio` peers are dialed by us |
    //! | `max_pending` | 50 | inbound handshakes in progress |
    //! | `handshake_timeout` | 5 s | RLPx handshake plus Hello |
    //! | `dial_timeout` | 15 s | TCP connect of a dial |
    //! | `inbound_throttle` | 30 s | per non-LAN IP |
    //! | `static_peers` | none | dialed and redialed with backoff; also [`ServerHandle::add_peer`](crate::ServerHandle::add_peer) |
    //! | `trusted_peers` | none | admitted above every limit; also [`ServerHandle::add_trusted_peer`](crate::ServerHandle::add_trusted_peer), undone by [`remove_trusted_peer`](crate::ServerHandle::remove_trusted_peer) |
    //! | `net_restrict` | `None` | if set, only these CIDR ranges connect or are dialed |
    //! | `max_frame_size` | [`MAX_FRAME_SIZE`](crate::rlpx::MAX_FRAME_SIZE) (2^24 - 1) | largest frame read |
    //! | `peer.ping_interval` | 15 s | how often we Ping |
    //! | `peer.read_timeout` | 30 s | idle peer is dropped |
    //! | `peer.write_timeout` | 20 s | stuck peer is dropped |
    //! | `peer.inbox_capacity` | 16 | messages buffered per protocol |
    //! | `peer.outbox_capacity` | 64 | frames buffered per peer |
    //! | `peer.max_message_size` | [`MAX_MESSAGE_SIZE`](crate::p2p::MAX_MESSAGE_SIZE) (16 MiB) | after snappy decoding |
    //! | `event_capacity` | 1024 | events buffered per receiver |
    //! | `discovery` | `None` (off) | see [`discovery_and_nat`](super::discovery_and_nat) |
    //! | `data_dir` | `None` | where the node record and node database are kept |
    //! | `streams` | `None` (off) | byte streams over peers, see [`streams`](super::streams) |
    //! | `streams.window` | 1 MiB | receive window per stream: what a writer may have unread |
    //! | `streams.max_streams` | 256 | streams with one peer, both directions |
    //! | `streams.backlog` | 64 | incoming streams waiting in a listener |
    //!
    //! The base protocol version is 5: after Hello, messages are snappy-compressed when both
    //! sides announce 5 or more.
    //!
    //! ```
    //! use std::time::Duration;
    //! use ethp2p::ServerConfig;
    //! use ethp2p::rlpx::random_secret_key;
    //!
    //! let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    //! assert_eq!((config.max_peers, config.dial_ratio), (50, 3));
    //! assert_eq!((config.max_dialed(), config.max_inbound()), (16, 34));
    //! assert_eq!(config.peer.read_timeout, Duration::from_secs(30));
    //! config.max_peers = 100; // adjust what you need
    //! ```
}

pub mod errors {
    //! # Errors and disconnect reasons
    //!
    //! Errors are typed by who is to blame, and each maps to a devp2p
    //! [`DisconnectReason`](crate::p2p::DisconnectReason) in one place, which both
    //! [`EndCause::reason_to_send`](crate::peer::EndCause::reason_to_send) (a peer session) and
    //! [`ConnectionError::disconnect_reason`](crate::p2p::ConnectionError::disconnect_reason)
    //! (the Hello exchange) answer from.
    //!
    //! ## Before a connection becomes a peer
    //!
    //! [`PeerEvent::HandshakeFailed`](crate::PeerEvent::HandshakeFailed) carries a
    //! [`SetupError`](crate::server::SetupError):
    //!
    //! | error | meaning | reason we send |
    //! |---|---|---|
    //! | `Connect`, `ConnectTimeout` | the TCP connect of a dial failed | none |
    //! | `Timeout` | handshake plus Hello exceeded `handshake_timeout` | none |
    //! | `Evicted` | dropped for a newer inbound handshake | none |
    //! | `Rlpx` | the ECIES handshake failed (bad auth, bad MAC) | none (no session to send it on) |
    //! | `Hello` | the Hello exchange failed, or the remote sent Disconnect | as recorded in the error |
    //! | `Refused(reason)` | we refused: "too many peers", "already connected", "connected to self", "useless peer", or "client quitting" while shutting down | `reason` |
    //! | `InvalidNodeId` | a static peer's id is not a public key (our configuration's fault): found before the connect, reported once, never retried; a node source's candidate with such an id is dropped unreported | none (nothing connected) |
    //!
    //! [`SetupError::blame`](crate::server::SetupError::blame) says whose fault it is
    //! ([`Blame`](crate::Blame)): the remote's for what it sent or did not send, ours for our
    //! refusals and limits, the configuration's for an undialable id.
    //!
    //! A connection closed because the other one between the same two nodes won the
    //! simultaneous-dial tie-break is reported as
    //! [`PeerEvent::DuplicateClosed`](crate::PeerEvent::DuplicateClosed) instead
    //! ([`SetupError::is_duplicate`](crate::server::SetupError::is_duplicate)).
    //!
    //! ## When a peer session ends
    //!
    //! [`PeerEvent::Removed`](crate::PeerEvent::Removed) carries a
    //! [`PeerEnd`](crate::peer::PeerEnd): the first [`EndCause`](crate::peer::EndCause)
    //! (later ones are ignored), the reason we sent and the reason we received.
    //!
    //! | cause | reason we send |
    //! |---|---|
    //! | `RemoteDisconnect` (the remote's reason, if decodable) | none |
    //! | `Requested`: `remove_peer` ("disconnect requested"), `shutdown` ("client quitting"), a server rule | that reason |
    //! | `ProtocolReturned` | "client quitting" |
    //! | `ProtocolFailed` | "subprotocol error" |
    //! | `BadMessage`, `UnknownCode`, `UnexpectedHello` | "breach of protocol" |
    //! | `ReadTimeout` | "ping timeout" |
    //! | `WriteTimeout` | none |
    //! | `Transport`: closed or broken socket | none |
    //! | `Transport`: bad MAC, oversized frame | "breach of protocol" |
    //!
    //! After sending Disconnect, a closing connection keeps reading for at most
    //! [`LINGER`](crate::rlpx::LINGER) (1 s) so the remote receives our reason instead of a
    //! reset. [`EndCause::is_error`](crate::peer::EndCause::is_error) tells faults from
    //! choices; [`Stats::peer_errors`](crate::Stats::peer_errors) counts the faults.
    //!
    //! ## Starting
    //!
    //! [`Server::start`](crate::Server::start) fails with
    //! [`StartError`](crate::server::StartError) when the listen address cannot be bound,
    //! discovery cannot start (a record entry is not RLP, the record cannot be built or
    //! stored, or discv5 cannot carry it), or port mapping cannot (a port below 1024).
    //! [`StartError::blame`](crate::server::StartError::blame) tells a configuration mistake
    //! from a failure of the machine.
}

pub mod discovery_and_nat {
    //! # Discovery and NAT
    //!
    //! ## Discovery
    //!
    //! Set [`ServerConfig::discovery`](crate::ServerConfig::discovery) to a
    //! [`DiscoveryConfig`](crate::server::DiscoveryConfig) to run discv4 (with the EIP-868 ENR
    //! extension) beside the server. Its UDP socket defaults to the TCP listen address and
    //! port. The node builds a signed node record, kept in `data_dir` (when set) so its
    //! sequence number survives restarts, together with the node database. Discovery is one
    //! of the dialer's node sources: it hands over the nodes it finds and runs a lookup when
    //! the dialer has a free slot and no candidate, at most once a second (every 100 ms while
    //! lookups still find nodes never offered before). Add your own sources (a DNS list, a
    //! crawler's output) with [`ServerHandle::add_node_source`](crate::ServerHandle::add_node_source);
    //! the dialer skips nodes already connected, being dialed, or dialed in the last 30 s.
    //! A candidate from a record with both families
    //! ([`DialCandidate::from_record`](crate::server::DialCandidate::from_record)) is dialed
    //! at its IPv4 endpoint first (IPv6 first when the node listens on one IPv6 address only),
    //! and at the other when that connect fails.
    //!
    //! discv4 defaults ([`v4::Config`](ethp2p_discovery::v4::Config)): buckets of 16, lookups
    //! of alpha 3, reply timeout 500 ms, endpoint proof (bond) valid 24 h, revalidation every
    //! 10 s, table refresh every 30 min.
    //!
    //! ```
    //! use ethp2p::ServerConfig;
    //! use ethp2p::rlpx::random_secret_key;
    //! use ethp2p::server::DiscoveryConfig;
    //!
    //! let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    //! config.discovery = Some(DiscoveryConfig {
    //!     bootnodes: vec!["enode://d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666@18.138.108.67:30303".parse()?],
    //!     ..DiscoveryConfig::default()
    //! });
    //! # Ok::<(), Box<dyn std::error::Error>>(())
    //! ```
    //!
    //! A client of one chain announces it and dials only nodes of it:
    //! [`DiscoveryConfig::record_entries`](crate::server::DiscoveryConfig::record_entries) puts
    //! its `eth` entry ([`ForkId::eth_entry`](ethp2p_discovery::fork_id::ForkId::eth_entry))
    //! in its record, and
    //! [`DiscoveryConfig::record_filter`](crate::server::DiscoveryConfig::record_filter) keeps
    //! the discovered nodes whose record passes (discv4 nodes are asked for their record
    //! first, as go-ethereum does; DNS and discv5 nodes come with theirs).
    //!
    //! Discovery also votes on our external endpoint from what peers report in Pong: when
    //! enough recent voters agree, the node's enode and record advertise it, unless a NAT
    //! mapping already set the endpoint.
    //!
    //! ## DNS node lists (EIP-1459)
    //!
    //! [`ServerHandle::add_dns_discovery`](crate::ServerHandle::add_dns_discovery) adds the
    //! nodes of signed DNS trees (`enrtree://KEY@domain`, such as go-ethereum's
    //! `all.mainnet.ethdisco.net` lists) as a node source, walked only as fast as the dialer
    //! takes candidates. It takes any
    //! [`dns::Resolver`](ethp2p_discovery::dns::Resolver):
    //! [`UdpResolver`](ethp2p_discovery::dns::UdpResolver) asks one server you name, with no
    //! extra dependency; `HickoryResolver` (feature `dns-resolver`) follows the system's
    //! configuration. Defaults ([`dns::ClientConfig`](ethp2p_discovery::dns::ClientConfig)):
    //! 3 lookups/s after a burst of 10, 5 s per lookup, roots rechecked every 30 min, 1000
    //! verified entries cached. Every entry is checked against its hash and every root
    //! against the tree's key before it is used; a root whose sequence number goes backwards
    //! is refused. Lookup failures are logged and retried, never fatal.
    //!
    //! ## NAT
    //!
    //! With the default feature `nat`, one field does it, as go-ethereum's `--nat`:
    //! `config.nat = NatConfig::new(NatMode::Any)` ([`ServerConfig::nat`](crate::ServerConfig),
    //! `server::NatConfig`, modes `none` (the default), `any`, `upnp`,
    //! `pmp[:GATEWAY]`, `extip:IP`). The server then maps its TCP port and discovery UDP port by
    //! UPnP IGD or NAT-PMP (`ethp2p::nat`, the `ethp2p-nat` crate; IPv4 only), keeps the 10
    //! minute leases refreshed, advertises each external endpoint granted, and deletes the
    //! mappings on shutdown. A server listening on loopback is never mapped.
    //! `ServerHandle::nat_events` reports what happens; this is what `ethp2p node --nat`
    //! prints. A known endpoint can also be set by hand with
    //! [`ServerHandle::set_external_endpoint`](crate::ServerHandle::set_external_endpoint)
    //! (`extip:` takes an IPv6 address too). Either updates the record's endpoint of that
    //! family (`ip` or `ip6`; the enode when it is the IPv4 one) and bumps its sequence number
    //! once; endpoint predictions from discovery move each family's endpoint only while no
    //! mapping pinned it. Build with `default-features = false` to leave NAT (and igd-next's
    //! HTTP stack) out.
}

pub mod observability {
    //! # Logs, counters and metrics
    //!
    //! - Logs go through [`tracing`](https://docs.rs/tracing); the library never installs a
    //!   subscriber. A rejected connection or an ended session is logged once, with the peer
    //!   id, the remote address and the reason.
    //! - [`ServerHandle::stats`](crate::ServerHandle::stats) gives counters since start
    //!   ([`Stats`](crate::Stats)) without any dependency.
    //! - Metrics go through the [`metrics`](https://docs.rs/metrics) facade and cost nothing
    //!   until a recorder is installed. Install it before [`Server::start`](crate::Server::start):
    //!   per-protocol counters are registered when a peer's session starts. Every name and
    //!   label is listed in [`crate::metrics`], `ethp2p_discovery::metrics` and (feature `nat`)
    //!   `ethp2p_nat::metrics`. `ethp2p node --metrics` serves them in Prometheus text format.
}

pub mod streams {
    //! # Byte streams over a peer
    //!
    //! With [`ServerConfig::streams`](crate::ServerConfig::streams) set, the node serves the
    //! `stream/1` subprotocol beside yours. [`ServerHandle::open_stream`](crate::ServerHandle::open_stream)
    //! opens a stream to a protocol name on a connected peer and returns once the peer accepted
    //! it; [`ServerHandle::accept_streams`](crate::ServerHandle::accept_streams) listens for a
    //! name, for all peers or a list of node ids ([`Allow`](crate::streams::Allow)). A
    //! [`Stream`](crate::streams::Stream) is tokio's `AsyncRead + AsyncWrite`.
    //!
    //! | event | this side | the other side |
    //! |---|---|---|
    //! | open to a name nobody listens for | `Refused(NoListener)` | logged at debug |
    //! | open from a peer not allowed | `Refused(NotAllowed)` | logged at debug |
    //! | `shutdown()` | writes fail (`WriteAfterShutdown`) | reads end (EOF) after the data |
    //! | `reset()`, or drop before the remote closed | `LocalReset` | `Reset(Cancelled)` |
    //! | the peer disconnects or the node shuts down | reads (after buffered bytes) and writes fail with `PeerGone` | the same |
    //! | more data than the credit granted | | the peer is disconnected (subprotocol error) |
    //!
    //! [`ServerHandle::probe_stream`](crate::ServerHandle::probe_stream) asks the same question
    //! as an open without opening anything (the remote's listener never sees it).
    //!
    //! Flow control is per stream: a writer holds at most one window of bytes the remote has
    //! not read, so a stalled reader stops only its own writer. Messages are size-checked
    //! before use: Data at most 64 KiB, windows at most 16 MiB, names at most 128 bytes. See
    //! [`crate::streams`] for the wire format and the reasons for it.
}
