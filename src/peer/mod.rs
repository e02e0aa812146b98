//! The runtime of one connected peer, after the handshake and Hello.
//!
//! One task runs the read loop and the write loop side by side (so a blocked write never stalls
//! reading); one more task per matched protocol runs its handler.
//!
//! - The read loop answers Ping, turns Disconnect into the end of the session, and routes every
//!   other message by code to its protocol's bounded inbox (waiting when the handler is slow:
//!   memory stays bounded and TCP pushes back on the remote), or to a subscription.
//! - The write loop seals and writes the frames that protocol tasks queue (bounded, so senders
//!   wait for a slow peer), and drives the session's clock, a sans-IO `Keepalive` that takes
//!   `now` and names its next deadline: a Ping every `ping_interval`, and the end of a peer that
//!   sends nothing within `read_timeout` or does not take our data within `write_timeout`.
//! - Whatever ends the session first (read error, remote Disconnect, a timeout, a handler
//!   returning, a request from the server) is recorded once in the `EndSignal`; the write loop
//!   then sends our Disconnect when there is a reason to send.

mod end;
mod keepalive;
mod message_counts;
mod timer;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

pub use end::{EndCause, PeerEnd};
use keepalive::{Expired, Keepalive};
pub(crate) use message_counts::MessageCounts;
use timer::{KeepaliveTimer, ReadProgress};

use crate::metrics::Traffic;
use crate::p2p::{
    DISCONNECT, DisconnectReason, MAX_MESSAGE_SIZE, PING, PING_PAYLOAD, PONG, PONG_PAYLOAD,
    Received, SharedCapability, decode_payload_into, encode_message, route, rules,
};
use crate::protocol::{Message, MessageSender, PeerInfo, Protocol, ProtocolPeer};
use crate::rlpx::{HEADER_LEN, RlpxReader, RlpxWriter};
use crate::subscription::Subscriptions;

/// Timing and queue limits of a peer session.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// How often we Ping (go-ethereum: 15 s).
    pub ping_interval: Duration,
    /// A peer that sends nothing for this long while we wait for a frame is dropped (go-ethereum:
    /// 30 s); time spent waiting for a slow protocol handler does not count.
    pub read_timeout: Duration,
    /// A peer that does not take a queued frame within this long is dropped (go-ethereum: 20 s).
    pub write_timeout: Duration,
    /// Messages buffered per protocol before the read loop waits for its handler.
    pub inbox_capacity: usize,
    /// Frames buffered per peer before senders wait for the socket.
    pub outbox_capacity: usize,
    /// Largest message accepted after snappy decoding.
    pub max_message_size: usize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            ping_interval: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(20),
            inbox_capacity: 16,
            outbox_capacity: 64,
            max_message_size: MAX_MESSAGE_SIZE,
        }
    }
}

/// Records the first cause that ends a session; later ones are ignored.
#[derive(Clone)]
pub(crate) struct EndSignal(Arc<watch::Sender<Option<EndCause>>>);

impl EndSignal {
    pub(crate) fn new() -> Self {
        EndSignal(Arc::new(watch::channel(None).0))
    }

    /// Ends the session with `cause` unless something else already did.
    pub(crate) fn end(&self, cause: EndCause) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(cause);
            true
        });
    }

    fn watch(&self) -> watch::Receiver<Option<EndCause>> {
        self.0.subscribe()
    }
}

/// The pieces of an established session the runtime takes over.
pub(crate) struct Session<R, W> {
    pub(crate) reader: RlpxReader<R>,
    pub(crate) writer: RlpxWriter<W>,
    pub(crate) snappy: bool,
    pub(crate) info: Arc<PeerInfo>,
}

/// How long our own Disconnect may take to write when the session ends.
const DISCONNECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long protocol handlers may take, once the session ended, to take the messages read before
/// the end and return; then they are stopped.
const HANDLER_GRACE: Duration = Duration::from_secs(1);
/// A write batch stops growing at this many bytes.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Runs the session until it ends; the matched `protocols` are in the same order as
/// `session.info.capabilities`.
pub(crate) async fn run<R, W>(
    session: Session<R, W>,
    protocols: Vec<Protocol>,
    config: &PeerConfig,
    end: EndSignal,
    subscriptions: Arc<Subscriptions>,
    counts: Arc<MessageCounts>,
) -> PeerEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Session {
        mut reader,
        mut writer,
        snappy,
        info,
    } = session;
    let (outbox, mut outbox_rx) = mpsc::channel::<Vec<u8>>(config.outbox_capacity);

    let mut inboxes = Vec::with_capacity(protocols.len());
    let traffic: Vec<_> = info
        .capabilities
        .iter()
        .map(|c| Traffic::inbound(&c.name))
        .collect();
    let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(protocols.len());
    for (protocol, capability) in protocols.iter().zip(&info.capabilities) {
        let (inbox, inbox_rx) = mpsc::channel(config.inbox_capacity);
        inboxes.push(inbox);
        let sender = MessageSender::new(capability.clone(), snappy, outbox.clone());
        let peer = ProtocolPeer::new(info.clone(), inbox_rx, sender);
        let handler = protocol.run(peer);
        let end = end.clone();
        let name = capability.capability();
        tasks.push(tokio::spawn(async move {
            end.end(match handler.await {
                Ok(()) => EndCause::ProtocolReturned(name),
                Err(error) => EndCause::ProtocolFailed {
                    protocol: name,
                    error: error.to_string(),
                },
            });
        }));
    }

    let (cause, writer_healthy) = {
        let start = Instant::now();
        let reads = ReadProgress::new(start);
        let mut timer = KeepaliveTimer::new(Keepalive::new(start.into_std(), config), &reads);
        let read = ReadLoop {
            capabilities: &info.capabilities,
            inboxes: &inboxes,
            traffic: &traffic,
            outbox: &outbox,
            snappy,
            config,
            subscriptions: &subscriptions,
            info: &info,
            counts: &counts,
            reads: &reads,
        }
        .run(&mut reader);
        let write = write_loop(
            &mut writer,
            &mut outbox_rx,
            &end,
            snappy,
            config,
            &counts,
            &mut timer,
        );
        tokio::pin!(read, write);
        tokio::select! {
            cause = &mut read => {
                end.end(cause);
                write.await
            }
            outcome = &mut write => outcome,
        }
    };

    // Protocol handlers see their inbox close: they get what was read before the end, then
    // `recv` returns `None`. Nothing more is written, so their `send` fails from now on rather
    // than queue a frame no one writes. Those that do not return within the grace period are
    // stopped.
    drop(inboxes);
    outbox_rx.close();
    let grace = Instant::now() + HANDLER_GRACE;
    for task in &mut tasks {
        let _ = tokio::time::timeout_at(grace, task).await;
    }
    for task in &tasks {
        task.abort();
    }

    let mut sent = None;
    if let Some(reason) = cause.reason_to_send().filter(|_| writer_healthy) {
        let mut frame = base_protocol_frame(DISCONNECT, &reason.encode(), snappy);
        writer.seal(&mut frame);
        if let Ok(Ok(())) = timeout(DISCONNECT_WRITE_TIMEOUT, writer.write_sealed(&frame)).await {
            sent = Some(reason);
        }
    }
    let closed = timeout(DISCONNECT_WRITE_TIMEOUT, writer.shutdown()).await;
    if sent.is_some() && matches!(closed, Ok(Ok(()))) {
        reader.drain().await;
    }
    let received = match &cause {
        EndCause::RemoteDisconnect(reason) => *reason,
        _ => None,
    };
    PeerEnd {
        cause,
        sent,
        received,
    }
}

struct ReadLoop<'a> {
    capabilities: &'a [SharedCapability],
    inboxes: &'a [mpsc::Sender<Message>],
    /// Received-message metrics, one per entry of `capabilities`.
    traffic: &'a [Traffic],
    outbox: &'a mpsc::Sender<Vec<u8>>,
    snappy: bool,
    config: &'a PeerConfig,
    subscriptions: &'a Subscriptions,
    info: &'a PeerInfo,
    counts: &'a MessageCounts,
    /// Where the write loop's timer learns since when we wait for a frame (it owns the read
    /// timeout).
    reads: &'a ReadProgress,
}

impl ReadLoop<'_> {
    /// Reads until the session must end; returns why (the read timeout is the write loop's).
    async fn run<R: AsyncRead + Unpin>(self, reader: &mut RlpxReader<R>) -> EndCause {
        loop {
            self.reads.waiting();
            let frame = match reader.read_frame().await {
                Err(error) => return EndCause::Transport(error),
                Ok(frame) => frame,
            };
            self.reads.busy();
            let received = match rules::receive(frame, self.snappy) {
                Ok(received) => received,
                Err(violation) => return EndCause::from(violation),
            };
            match received {
                Received::Ping => {
                    let pong = base_protocol_frame(PONG, PONG_PAYLOAD, self.snappy);
                    if self.outbox.send(pong).await.is_err() {
                        // The writer is gone; the session is already ending.
                        return EndCause::Requested(DisconnectReason::ClientQuitting);
                    }
                }
                Received::Disconnect(reason) => return EndCause::RemoteDisconnect(reason.ok()),
                // Every frame already moved the read deadline.
                Received::Pong | Received::Reserved(_) => {}
                Received::Subprotocol { code, raw } => {
                    let Some((index, relative)) = route(self.capabilities, code) else {
                        return EndCause::UnknownCode(code);
                    };
                    let mut payload = Vec::new();
                    let max = self.config.max_message_size;
                    if let Err(error) = decode_payload_into(raw, self.snappy, max, &mut payload) {
                        return EndCause::BadMessage(error);
                    }
                    self.counts.received();
                    self.traffic[index].record(payload.len());
                    let message = Message {
                        code: relative,
                        payload,
                    };
                    let protocol = &self.capabilities[index].name;
                    if let Some(message) =
                        self.subscriptions.deliver(protocol, self.info.id, message)
                    {
                        // A closed inbox means the handler returned; the session is ending.
                        let _ = self.inboxes[index].send(message).await;
                    }
                }
            }
        }
    }
}

/// Whether we chose to end the session (not the remote, the connection, or bad input), so what is
/// queued should still go out.
fn ended_by_us(cause: &EndCause) -> bool {
    matches!(
        cause,
        EndCause::Requested(_) | EndCause::ProtocolReturned(_) | EndCause::ProtocolFailed { .. }
    )
}

/// Writes the frames queued now (at most one outbox's worth: handlers may still be sending);
/// returns whether the socket took them.
async fn flush<W: AsyncWrite + Unpin>(
    writer: &mut RlpxWriter<W>,
    outbox: &mut mpsc::Receiver<Vec<u8>>,
    config: &PeerConfig,
    counts: &MessageCounts,
    timer: &mut KeepaliveTimer<'_>,
    end: &EndSignal,
) -> bool {
    let mut batch = Vec::new();
    while batch.len() < config.outbox_capacity {
        match outbox.try_recv() {
            Ok(frame) => batch.push(frame),
            Err(_) => break,
        }
    }
    if batch.is_empty() {
        return true;
    }
    for frame in &mut batch {
        writer.seal(frame);
    }
    let healthy = write_batch(writer, &batch, timer, end).await.is_ok();
    if healthy {
        counts.sent(batch.len() as u64);
    }
    healthy
}

/// Writes sealed frames within the write timeout. A read timeout meanwhile ends the session
/// (unless something else already did) but lets the write go on, as before the timeout.
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut RlpxWriter<W>,
    batch: &[Vec<u8>],
    timer: &mut KeepaliveTimer<'_>,
    end: &EndSignal,
) -> Result<(), EndCause> {
    timer.write_started();
    let write = writer.write_sealed_batch(batch);
    tokio::pin!(write);
    loop {
        tokio::select! {
            biased;
            written = &mut write => {
                timer.write_finished();
                return written.map_err(EndCause::Transport);
            }
            expired = timer.expired() => match expired {
                Expired::WriteTimeout => return Err(EndCause::WriteTimeout),
                Expired::ReadTimeout => end.end(EndCause::ReadTimeout),
                // The keepalive asks for no Ping while a write is pending.
                Expired::Ping => {}
            },
        }
    }
}

/// An unsealed frame (header room first) carrying a base-protocol message, which is always far
/// below the message size limit.
fn base_protocol_frame(code: u64, payload: &[u8], snappy: bool) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_LEN];
    encode_message(code, payload, snappy, &mut frame).expect("base-protocol messages are tiny");
    frame
}

/// Writes queued frames and Pings until the session ends, and ends it on the keepalive's read
/// and write timeouts. Returns the end cause and whether the socket can still take our
/// Disconnect. When we end the session ourselves, what the protocol handlers already queued
/// (their `send` returned `Ok`) is written before the Disconnect: a handler may send its last
/// messages and return.
async fn write_loop<W: AsyncWrite + Unpin>(
    writer: &mut RlpxWriter<W>,
    outbox: &mut mpsc::Receiver<Vec<u8>>,
    end: &EndSignal,
    snappy: bool,
    config: &PeerConfig,
    counts: &MessageCounts,
    timer: &mut KeepaliveTimer<'_>,
) -> (EndCause, bool) {
    let mut ended = end.watch();
    let mut batch: Vec<Vec<u8>> = Vec::new();
    loop {
        let cause = ended.borrow_and_update().clone();
        if let Some(cause) = cause {
            let healthy =
                !ended_by_us(&cause) || flush(writer, outbox, config, counts, timer, end).await;
            return (cause, healthy);
        }
        tokio::select! {
            biased;
            _ = ended.changed() => continue,
            // Before the outbox: a peer we keep busy sending must still time out when it sends
            // nothing back, and get its Ping on time.
            expired = timer.expired() => match expired {
                Expired::Ping => batch.push(base_protocol_frame(PING, PING_PAYLOAD, snappy)),
                Expired::ReadTimeout => {
                    end.end(EndCause::ReadTimeout);
                    continue;
                }
                // No write is pending between batches.
                Expired::WriteTimeout => continue,
            },
            frame = outbox.recv() => {
                // We hold an outbox sender ourselves, so the queue never closes.
                let Some(frame) = frame else { continue };
                batch.push(frame);
                let mut bytes = batch[0].len();
                while bytes < MAX_BATCH_BYTES {
                    match outbox.try_recv() {
                        Ok(frame) => {
                            bytes += frame.len();
                            batch.push(frame);
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        for frame in &mut batch {
            writer.seal(frame);
        }
        if let Err(cause) = write_batch(writer, &batch, timer, end).await {
            return (cause, false);
        }
        counts.sent(batch.len() as u64);
        batch.clear();
    }
}
