//! Plumbing for the fault tests: a raw RLPx client driven through the sans-IO core (so a test can
//! put exactly the bytes it wants on the wire), captured log lines, and a fixture that runs the
//! server under test with one well-behaved peer attached.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctr::cipher::{KeyIvInit, StreamCipher};
use ethp2p::p2p::{
    BASE_PROTOCOL_LENGTH, Capability, DISCONNECT, DisconnectReason, HELLO, Hello, MAX_MESSAGE_SIZE,
    PROTOCOL_VERSION, decode_disconnect_message, decode_message, encode_message, snappy_enabled,
    split_message_code,
};
use ethp2p::peer::{PeerConfig, PeerEnd};
use ethp2p::rlpx::mac::FrameMac;
use ethp2p::rlpx::{
    FrameOpener, FrameSealer, HEADER_LEN, Initiator, MAX_FRAME_SIZE, PacketLen, PeerId, RlpxError,
    Secrets, random_secret_key,
};
use ethp2p::{
    Message, MessageSender, PeerEvent, PeerInfo, Protocol, Server, ServerConfig, ServerHandle,
};
use ethp2p_testkit::server::{localhost_config, wait_added};
use rand::rngs::StdRng;
use secp256k1::SecretKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;

/// Upper bound for anything a test waits for; never a pacing delay.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The capability every node under test serves: code 0 and 1, echoed back.
pub const ECHO: (&str, u32) = ("echo", 1);
/// Wire code of the echo protocol's code 0 when it is the only shared capability.
pub const ECHO_WIRE_CODE: u64 = 0x10;

/// Short timings so faults surface quickly. Pings every 250 ms keep a healthy peer well inside
/// the 2 s read timeout even on a loaded machine.
pub fn quick_peer_config() -> PeerConfig {
    PeerConfig {
        ping_interval: Duration::from_millis(250),
        read_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(1),
        ..PeerConfig::default()
    }
}

/// The kit's localhost config, listening on `ip` instead (port 0), with quick timeouts.
pub fn node_config(key: SecretKey, ip: IpAddr, protocols: Vec<Protocol>) -> ServerConfig {
    let mut config = localhost_config(key, protocols);
    config.listen_addr = Some(SocketAddr::new(ip, 0));
    config.handshake_timeout = Duration::from_secs(2);
    config.peer = quick_peer_config();
    config.event_capacity = 4096;
    config
}

/// Echoes every message back with the same code.
pub fn echo_protocol() -> Protocol {
    Protocol::new(ECHO.0, ECHO.1, 2, |mut peer| async move {
        while let Some(message) = peer.recv().await {
            peer.send(message.code, &message.payload).await?;
        }
        Ok(())
    })
}

/// The healthy side of the echo protocol: hands its sender to the test and reports every message
/// it receives.
fn echo_client(
    senders: mpsc::UnboundedSender<MessageSender>,
    received: mpsc::UnboundedSender<Message>,
) -> Protocol {
    Protocol::new(ECHO.0, ECHO.1, 2, move |mut peer| {
        let senders = senders.clone();
        let received = received.clone();
        async move {
            let _ = senders.send(peer.sender());
            while let Some(message) = peer.recv().await {
                let _ = received.send(message);
            }
            Ok(())
        }
    })
}

/// Reads into `buf` until it holds at least `want` bytes.
async fn fill(tcp: &mut TcpStream, buf: &mut Vec<u8>, want: usize) -> Result<(), RlpxError> {
    while buf.len() < want {
        buf.reserve(want - buf.len());
        if tcp.read_buf(buf).await? == 0 {
            return Err(RlpxError::Closed);
        }
    }
    Ok(())
}

/// The egress side of the frame codec written out from the spec (rlpx.md, "Framing") over the
/// library's public secrets and MAC. Unlike [`FrameSealer`] it can emit a header alone: a frame
/// announcing 16 MiB costs nothing to fake, where sealing its body takes seconds in a debug build.
struct HandSealer {
    cipher: ctr::Ctr128BE<aes::Aes256>,
    mac: FrameMac,
}

impl HandSealer {
    fn new(secrets: &Secrets) -> Self {
        HandSealer {
            cipher: ctr::Ctr128BE::new((&secrets.aes_secret).into(), (&[0u8; 16]).into()),
            mac: secrets.egress_mac.clone(),
        }
    }

    /// `header-ciphertext || header-mac` for a frame of `size` bytes.
    fn seal_header(&mut self, size: usize) -> [u8; HEADER_LEN] {
        assert!(size <= MAX_FRAME_SIZE);
        let mut header = [0u8; 16];
        header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
        // header-data: [capability-id, context-id], both zero.
        header[3..6].copy_from_slice(&[0xc2, 0x80, 0x80]);
        self.cipher.apply_keystream(&mut header);
        let mut out = [0u8; HEADER_LEN];
        out[..16].copy_from_slice(&header);
        out[16..].copy_from_slice(&self.mac.header_mac(&header));
        out
    }

    /// A whole frame: header, body padded to 16 bytes and encrypted, frame MAC.
    fn seal(&mut self, data: &[u8]) -> Vec<u8> {
        let mut frame = self.seal_header(data.len()).to_vec();
        let mut body = data.to_vec();
        body.resize(data.len().div_ceil(16) * 16, 0);
        self.cipher.apply_keystream(&mut body);
        let mac = self.mac.frame_mac(&body);
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&mac);
        frame
    }
}

/// An RLPx client that does everything by hand: the handshake through the sans-IO state
/// machine, frames through the codec halves, Hello and messages through the p2p codec.
pub struct RawClient {
    /// The socket; tests write partial or corrupt bytes to it directly.
    pub tcp: TcpStream,
    /// Our static key.
    pub key: SecretKey,
    /// Whether snappy was negotiated by [`RawClient::exchange_hello`].
    pub snappy: bool,
    /// The library's sealer; `None` after a header-only frame.
    sealer: Option<FrameSealer>,
    /// The same state, sealed by hand, which can also produce a header without its body.
    hand_sealer: HandSealer,
    opener: FrameOpener,
    /// Bytes read but not yet consumed as frames.
    buf: Vec<u8>,
}

impl RawClient {
    /// Connects to `addr` and runs the RLPx handshake as initiator towards `remote`.
    pub async fn connect(
        addr: SocketAddr,
        key: SecretKey,
        remote: PeerId,
        rng: &mut StdRng,
    ) -> RawClient {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        Self::handshake(tcp, key, remote, rng)
            .await
            .expect("RLPx handshake")
    }

    /// Runs the RLPx handshake as initiator over `tcp`.
    pub async fn handshake(
        mut tcp: TcpStream,
        key: SecretKey,
        remote: PeerId,
        rng: &mut StdRng,
    ) -> Result<RawClient, RlpxError> {
        let remote_key = remote.to_public_key().expect("valid node id");
        let (awaiting, auth) = Initiator::random(key, remote_key, rng).write_auth(rng);
        tcp.write_all(&auth).await?;
        let mut buf = Vec::new();
        let len = loop {
            match awaiting.packet_len(&buf)? {
                PacketLen::Complete(len) => break len,
                PacketLen::NeedMore(want) => fill(&mut tcp, &mut buf, want).await?,
            }
        };
        let established = awaiting.read_ack(&buf[..len])?;
        buf.drain(..len);
        let hand_sealer = HandSealer::new(&established.secrets);
        let (sealer, opener) = established.into_codec(MAX_FRAME_SIZE).split();
        Ok(RawClient {
            tcp,
            key,
            snappy: false,
            sealer: Some(sealer),
            hand_sealer,
            opener,
            buf,
        })
    }

    /// Our node id.
    pub fn id(&self) -> PeerId {
        PeerId::from_secret_key(&self.key)
    }

    /// Our local socket address: the server's `remote_addr` for this connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr().expect("local addr")
    }

    /// A Hello from us with the given capabilities and p2p version.
    pub fn hello(&self, protocol_version: u64, capabilities: &[(&str, u32)]) -> Hello {
        Hello {
            protocol_version,
            client_id: "raw-test-client".to_string(),
            capabilities: capabilities
                .iter()
                .map(|(name, version)| Capability::new(*name, *version))
                .collect(),
            listen_port: 0,
            id: self.id().0,
        }
    }

    /// Seals `data` as one frame and returns the wire bytes without writing them. Both sealers
    /// run in lockstep, checking the hand-written one against the library's.
    pub fn seal(&mut self, data: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(HEADER_LEN + data.len() + 32);
        frame.resize(HEADER_LEN, 0);
        frame.extend_from_slice(data);
        let by_hand = self.hand_sealer.seal(data);
        self.sealer
            .as_mut()
            .expect("no frame after a header-only one")
            .seal(&mut frame);
        assert_eq!(
            frame, by_hand,
            "hand-written sealer agrees with the library"
        );
        frame
    }

    /// The 32 header bytes (header plus header MAC) of a frame announcing `size` bytes, without
    /// sealing a body. Nothing can be sealed after it: the body's MAC never entered the state.
    pub fn seal_header_only(&mut self, size: usize) -> [u8; HEADER_LEN] {
        self.sealer = None;
        self.hand_sealer.seal_header(size)
    }

    /// Seals and writes one frame.
    pub async fn send_frame(&mut self, data: &[u8]) -> io::Result<()> {
        let frame = self.seal(data);
        self.tcp.write_all(&frame).await
    }

    /// Encodes (with snappy if negotiated), seals and writes one message.
    pub async fn send_message(&mut self, code: u64, payload: &[u8]) -> io::Result<()> {
        let mut data = Vec::new();
        encode_message(code, payload, self.snappy, &mut data).expect("encodable");
        self.send_frame(&data).await
    }

    /// Reads and opens the next frame.
    pub async fn read_frame(&mut self) -> Result<Vec<u8>, RlpxError> {
        fill(&mut self.tcp, &mut self.buf, HEADER_LEN).await?;
        let mut header: [u8; HEADER_LEN] = self.buf[..HEADER_LEN].try_into().expect("filled");
        let body_len = self.opener.open_header(&mut header)?;
        fill(&mut self.tcp, &mut self.buf, HEADER_LEN + body_len).await?;
        let mut body: Vec<u8> = self.buf.drain(..HEADER_LEN + body_len).collect();
        Ok(self.opener.open_body(&mut body[HEADER_LEN..])?.to_vec())
    }

    /// Sends our Hello, reads the server's, and records whether snappy is on.
    pub async fn exchange_hello(&mut self, local: &Hello) -> Hello {
        let mut data = Vec::new();
        encode_message(HELLO, &local.encode(), false, &mut data).expect("encodable");
        self.send_frame(&data).await.expect("send Hello");
        let frame = timeout(DEADLINE, self.read_frame())
            .await
            .expect("server Hello in time")
            .expect("server Hello");
        let (code, payload) = split_message_code(&frame).expect("message code");
        assert_eq!(code, HELLO, "the server speaks first with Hello");
        let remote = Hello::decode(payload).expect("server Hello decodes");
        self.snappy = snappy_enabled(local.protocol_version, remote.protocol_version);
        remote
    }

    /// A full p2p session start: Hello with `capabilities` at the current p2p version.
    pub async fn join(&mut self, capabilities: &[(&str, u32)]) -> Hello {
        let hello = self.hello(PROTOCOL_VERSION, capabilities);
        self.exchange_hello(&hello).await
    }

    /// Reads frames until a Disconnect; returns the codes of the messages before it and its
    /// reason. Fails if the connection ends first.
    pub async fn read_until_disconnect(&mut self) -> (Vec<u64>, DisconnectReason) {
        let read = async {
            let mut before = Vec::new();
            loop {
                let frame = self
                    .read_frame()
                    .await
                    .expect("a Disconnect before the end");
                let (code, payload) = split_message_code(&frame).expect("message code");
                if code == DISCONNECT {
                    let reason = decode_disconnect_message(payload, self.snappy)
                        .expect("Disconnect reason decodes");
                    return (before, reason);
                }
                before.push(code);
            }
        };
        timeout(DEADLINE, read).await.expect("Disconnect in time")
    }

    /// The reason of the next Disconnect, skipping other messages (Pings, say).
    pub async fn expect_disconnect(&mut self) -> DisconnectReason {
        self.read_until_disconnect().await.1
    }

    /// The payload of the next message with wire code `code`, skipping base-protocol messages.
    pub async fn expect_message(&mut self, code: u64) -> Vec<u8> {
        let read = async {
            loop {
                let frame = self.read_frame().await.expect("a message before the end");
                let (got, payload) =
                    decode_message(&frame, self.snappy, MAX_MESSAGE_SIZE).expect("decodes");
                if got >= BASE_PROTOCOL_LENGTH {
                    assert_eq!(got, code, "unexpected message");
                    return payload;
                }
                assert_ne!(got, DISCONNECT, "disconnected while waiting for {code:#x}");
            }
        };
        timeout(DEADLINE, read).await.expect("message in time")
    }

    /// Reads until the server closes the connection; fails on a Disconnect or a bad frame.
    pub async fn expect_closed_without_disconnect(&mut self) {
        let read = async {
            loop {
                match self.read_frame().await {
                    Ok(frame) => {
                        let (code, _) = split_message_code(&frame).expect("message code");
                        assert_ne!(code, DISCONNECT, "the server sent Disconnect");
                    }
                    Err(RlpxError::Closed | RlpxError::Io(_)) => return,
                    Err(error) => panic!("bad frame from the server: {error}"),
                }
            }
        };
        timeout(DEADLINE, read).await.expect("closed in time")
    }
}

/// Log lines captured from the current thread (tests run on a current-thread runtime, so the
/// server's tasks log there too).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures INFO and above on this thread until the guard is dropped.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// The captured lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let bytes = self.0.lock().expect("log lock").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Asserts the end of peer `id` was logged exactly once (besides its "peer added" line).
    pub fn assert_one_end_line(&self, id: PeerId) {
        let lines: Vec<String> = self
            .lines_with(&format!("{id:?}"))
            .into_iter()
            .filter(|line| !line.contains("peer added"))
            .collect();
        assert_eq!(lines.len(), 1, "one line for the end of {id:?}: {lines:#?}");
        assert!(lines[0].contains("peer removed"), "{}", lines[0]);
    }

    /// Asserts the failed connection from `addr` was logged exactly once.
    pub fn assert_one_failure_line(&self, addr: SocketAddr) {
        let lines = self.lines_with(&format!("remote_addr={addr} "));
        assert_eq!(lines.len(), 1, "one line for {addr}: {lines:#?}");
        assert!(
            lines[0].contains("connection failed before becoming a peer")
                || lines[0].contains("duplicate connection closed"),
            "{}",
            lines[0]
        );
    }
}

/// What a server reported about a connection that failed before becoming a peer.
#[derive(Debug)]
pub struct Failure {
    pub id: Option<PeerId>,
    pub sent: Option<DisconnectReason>,
    pub error: String,
}

/// A well-behaved peer: a full server connected to the server under test, speaking echo.
pub struct Healthy {
    pub handle: ServerHandle,
    pub key: SecretKey,
    pub id: PeerId,
    sender: MessageSender,
    received: mpsc::UnboundedReceiver<Message>,
    round: u64,
}

impl Healthy {
    /// Sends a message on code 0 and waits for its echo.
    pub async fn roundtrip(&mut self) {
        self.round += 1;
        let payload = format!("round {}", self.round).into_bytes();
        self.sender.send(0, &payload).await.expect("healthy send");
        let echo = timeout(DEADLINE, self.received.recv())
            .await
            .expect("echo in time")
            .expect("healthy protocol running");
        assert_eq!(echo, Message { code: 0, payload });
    }

    /// The healthy side's sender, for tests that send more than a round trip.
    pub fn sender(&self) -> &MessageSender {
        &self.sender
    }
}

/// The server under test, its event stream, its captured logs, and one healthy peer.
pub struct Fixture {
    pub server: ServerHandle,
    pub server_key: SecretKey,
    pub events: broadcast::Receiver<PeerEvent>,
    pub healthy: Healthy,
    pub logs: Logs,
    pub rng: StdRng,
    /// Every event taken from `events`, for the message of a test that times out.
    history: Vec<String>,
    _log_guard: tracing::subscriber::DefaultGuard,
}

impl Fixture {
    /// Starts the server under test (echo protocol, quick timeouts, then `tweak`) and a healthy
    /// peer that dials it; returns once they exchanged a message.
    pub async fn start(rng: StdRng, tweak: impl FnOnce(&mut ServerConfig)) -> Fixture {
        Self::start_inner(rng, tweak, false).await
    }

    /// Like [`Fixture::start`], but the server under test dials the healthy peer, which listens
    /// on 127.0.0.2 (for tests where 127.0.0.1 must not get in).
    pub async fn start_dialing(rng: StdRng, tweak: impl FnOnce(&mut ServerConfig)) -> Fixture {
        Self::start_inner(rng, tweak, true).await
    }

    async fn start_inner(
        mut rng: StdRng,
        tweak: impl FnOnce(&mut ServerConfig),
        server_dials: bool,
    ) -> Fixture {
        let (logs, log_guard) = Logs::capture();
        let server_key = random_secret_key(&mut rng);
        let healthy_key = random_secret_key(&mut rng);
        let healthy_id = PeerId::from_secret_key(&healthy_key);
        let (senders_tx, mut senders) = mpsc::unbounded_channel();
        let (received_tx, received) = mpsc::unbounded_channel();
        let localhost = IpAddr::from([127, 0, 0, 1]);

        let mut config = node_config(server_key, localhost, vec![echo_protocol()]);
        tweak(&mut config);
        let healthy_ip = if server_dials {
            IpAddr::from([127, 0, 0, 2])
        } else {
            localhost
        };
        let mut healthy_config = node_config(
            healthy_key,
            healthy_ip,
            vec![echo_client(senders_tx, received_tx)],
        );
        let (server, healthy_handle, mut events) = if server_dials {
            let healthy_handle = Server::start(healthy_config).await.expect("healthy start");
            config.static_peers.push(healthy_handle.local_enode());
            let server = Server::start(config).await.expect("server start");
            let events = server.events();
            (server, healthy_handle, events)
        } else {
            let server = Server::start(config).await.expect("server start");
            let events = server.events();
            healthy_config.static_peers = vec![server.local_enode()];
            let healthy_handle = Server::start(healthy_config).await.expect("healthy start");
            (server, healthy_handle, events)
        };
        wait_added(&mut events, healthy_id).await;
        let sender = timeout(DEADLINE, senders.recv())
            .await
            .expect("healthy protocol started in time")
            .expect("healthy protocol started");
        let mut healthy = Healthy {
            handle: healthy_handle,
            key: healthy_key,
            id: healthy_id,
            sender,
            received,
            round: 0,
        };
        healthy.roundtrip().await;
        Fixture {
            server,
            server_key,
            events,
            healthy,
            logs,
            rng,
            history: Vec::new(),
            _log_guard: log_guard,
        }
    }

    /// A raw client with a fresh key, through the RLPx handshake with the server.
    pub async fn raw_client(&mut self) -> RawClient {
        let key = random_secret_key(&mut self.rng);
        self.raw_client_with_key(key).await
    }

    /// A raw client with `key`, through the RLPx handshake with the server.
    pub async fn raw_client_with_key(&mut self, key: SecretKey) -> RawClient {
        let enode = self.server.local_enode();
        RawClient::connect(enode.tcp_addr(), key, enode.id, &mut self.rng).await
    }

    /// A raw client that joined with the echo capability and was added as a peer.
    pub async fn joined_client(&mut self) -> RawClient {
        let mut client = self.raw_client().await;
        client.join(&[ECHO]).await;
        self.wait_added(client.id()).await;
        client
    }

    /// The server's next event. Waiting longer than [`DEADLINE`] fails the test with the last
    /// events and log lines.
    pub async fn next_event(&mut self) -> PeerEvent {
        match timeout(DEADLINE, self.events.recv()).await {
            Ok(Ok(event)) => {
                self.history.push(format!("{event:?}"));
                event
            }
            Ok(Err(error)) => panic!("server event stream: {error}"),
            Err(_) => {
                let logs = self.logs.lines_with("");
                panic!(
                    "no server event within {DEADLINE:?}\nlast events:\n{}\nlast log lines:\n{}",
                    self.history[self.history.len().saturating_sub(10)..].join("\n"),
                    logs[logs.len().saturating_sub(30)..].join("\n"),
                )
            }
        }
    }

    /// Waits for `Added` of `id`.
    pub async fn wait_added(&mut self, id: PeerId) -> Arc<PeerInfo> {
        loop {
            if let PeerEvent::Added(info) = self.next_event().await {
                if info.id == id {
                    return info;
                }
            }
        }
    }

    /// Waits for `Removed` of `id`; the healthy peer being removed instead fails the test.
    pub async fn wait_removed(&mut self, id: PeerId) -> PeerEnd {
        loop {
            if let PeerEvent::Removed { info, end } = self.next_event().await {
                assert_ne!(info.id, self.healthy.id, "healthy peer removed: {end:?}");
                if info.id == id {
                    return end;
                }
            }
        }
    }

    /// Waits for `HandshakeFailed` of the connection from `addr`.
    pub async fn wait_failed(&mut self, addr: SocketAddr) -> Failure {
        loop {
            match self.next_event().await {
                PeerEvent::HandshakeFailed {
                    remote_addr,
                    id,
                    sent,
                    error,
                    ..
                } if remote_addr == addr => {
                    return Failure {
                        id,
                        sent,
                        error: error.to_string(),
                    };
                }
                PeerEvent::DuplicateClosed {
                    remote_addr,
                    id,
                    sent,
                    ..
                } if remote_addr == addr => {
                    return Failure {
                        id,
                        sent,
                        error: "duplicate".to_string(),
                    };
                }
                PeerEvent::Removed { info, end } => {
                    assert_ne!(info.id, self.healthy.id, "healthy peer removed: {end:?}")
                }
                _ => {}
            }
        }
    }

    /// Checks the healthy peer survived (still listed on both sides, exchanges a message, no
    /// end logged) and shuts both servers down. Returns the server's remaining events.
    pub async fn finish(mut self) -> broadcast::Receiver<PeerEvent> {
        let server_id = self.server.local_id();
        assert!(
            self.server.peers().iter().any(|p| p.id == self.healthy.id),
            "healthy peer still connected"
        );
        assert!(
            self.healthy
                .handle
                .peers()
                .iter()
                .any(|p| p.id == server_id),
            "server still connected on the healthy side"
        );
        self.healthy.roundtrip().await;
        let ended = self.logs.lines_with(&format!("{:?}", self.healthy.id));
        assert!(
            ended.iter().all(|line| !line.contains("peer removed")),
            "healthy peer's end logged: {ended:#?}"
        );
        self.healthy.handle.shutdown().await;
        self.server.shutdown().await;
        self.events
    }
}
