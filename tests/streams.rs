//! Byte streams over a peer (`ethp2p::streams`), two or three nodes on 127.0.0.1: many
//! concurrent streams, flow control with a stalled reader, the allow list, half-close and reset,
//! the peer going away, and large transfers checked by SHA-256.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ethp2p::rlpx::random_secret_key;
use ethp2p::streams::{Allow, ResetReason, Stream, StreamConfig, StreamError};
use ethp2p::{PeerEvent, PeerId, Server, ServerHandle};
use ethp2p_testkit::server::{dialer_config, localhost_config};
use rand::{SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

/// Upper bound for anything a test waits for; never a pacing delay.
const DEADLINE: Duration = Duration::from_secs(120);

async fn node(rng: &mut StdRng, window: u32) -> ServerHandle {
    node_with(
        rng,
        StreamConfig {
            window,
            // Room for every stream a test opens at once: how fast a listener task accepts
            // depends on the machine's load, and a refused stream is not what most tests check.
            backlog: 128,
            ..StreamConfig::default()
        },
    )
    .await
}

async fn node_with(rng: &mut StdRng, streams: StreamConfig) -> ServerHandle {
    let mut config = localhost_config(random_secret_key(rng), Vec::new());
    config.streams = Some(streams);
    Server::start(config).await.expect("server starts")
}

/// `dialer` connects to `listener`; returns once both see each other.
async fn connect(dialer: &ServerHandle, listener: &ServerHandle) {
    let mut a = dialer.events();
    let mut b = listener.events();
    dialer.add_peer(listener.local_enode());
    for (events, id) in [(&mut a, listener.local_id()), (&mut b, dialer.local_id())] {
        timeout(DEADLINE, async {
            loop {
                if let PeerEvent::Added(info) = events.recv().await.expect("events") {
                    if info.id == id {
                        return;
                    }
                }
            }
        })
        .await
        .expect("peers connect");
    }
}

async fn pair(seed: u64, window: u32) -> (ServerHandle, ServerHandle) {
    let mut rng = StdRng::seed_from_u64(seed);
    let a = node(&mut rng, window).await;
    let b = node(&mut rng, window).await;
    connect(&b, &a).await;
    (a, b)
}

/// Deterministic bytes for stream `seed` (xorshift, cheap enough for hundreds of MiB).
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One non-blocking write attempt: what a writer gets without waiting.
fn try_write(stream: &mut Stream, buf: &[u8]) -> Option<usize> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(stream).poll_write(&mut cx, buf) {
        Poll::Ready(result) => Some(result.expect("write")),
        Poll::Pending => None,
    }
}

fn stream_error(error: &std::io::Error) -> Option<&StreamError> {
    error.get_ref()?.downcast_ref::<StreamError>()
}

/// Echoes every stream accepted for `name` back to its opener.
fn spawn_echo(node: &ServerHandle, name: &str, allow: Allow) {
    let mut listener = node.accept_streams(name, allow).expect("listen");
    tokio::spawn(async move {
        while let Some((_, stream)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = tokio::io::split(stream);
                tokio::io::copy(&mut read, &mut write).await.expect("echo");
                write.shutdown().await.expect("shutdown");
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_streams_arrive_intact() {
    let (a, b) = pair(1, 64 * 1024).await;
    spawn_echo(&a, "echo", Allow::All);
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let b = b.clone();
        let a_id = a.local_id();
        tasks.push(tokio::spawn(async move {
            let stream = b.open_stream(a_id, "echo").await.expect("open");
            assert_eq!(stream.peer(), a_id);
            let data = pattern(i, 100_000 + 997 * i as usize);
            let (mut read, mut write) = tokio::io::split(stream);
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                // Uneven writes, so chunks of different streams interleave on the wire.
                for chunk in sent.chunks(1000 + i as usize * 37) {
                    write.write_all(chunk).await.expect("write");
                }
                write.shutdown().await.expect("shutdown");
                write
            });
            let mut echoed = Vec::new();
            read.read_to_end(&mut echoed).await.expect("read");
            let _write = writer.await.expect("writer");
            assert!(echoed == data, "stream {i} came back changed");
        }));
    }
    for task in tasks {
        timeout(DEADLINE, task)
            .await
            .expect("in time")
            .expect("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_refuses_until_the_listener_accepts() {
    let mut rng = StdRng::seed_from_u64(8);
    let small = StreamConfig {
        backlog: 2,
        ..StreamConfig::default()
    };
    let a = node_with(&mut rng, small.clone()).await;
    let b = node_with(&mut rng, small).await;
    connect(&b, &a).await;
    let mut listener = a.accept_streams("slow", Allow::All).expect("listen");

    // Streams waiting in the listener count; the third finds the backlog full.
    let _first = b.open_stream(a.local_id(), "slow").await.expect("first");
    let _second = b.open_stream(a.local_id(), "slow").await.expect("second");
    assert_eq!(
        b.open_stream(a.local_id(), "slow").await.unwrap_err(),
        StreamError::Refused(ResetReason::Backlog)
    );
    let (peer, _accepted) = listener.accept().await.expect("accept");
    assert_eq!(peer, b.local_id());
    b.open_stream(a.local_id(), "slow")
        .await
        .expect("room again once one was accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_neither_stalls_others_nor_grows_the_buffer() {
    const WINDOW: u32 = 64 * 1024;
    let (a, b) = pair(2, WINDOW).await;
    let mut listener = a.accept_streams("sink", Allow::All).expect("listen");
    let a_id = a.local_id();

    // The stalled stream: the acceptor holds it and reads nothing.
    let mut stalled = b.open_stream(a_id, "sink").await.expect("open");
    let (_, mut held) = listener.accept().await.expect("accept");
    let data = pattern(7, 4 * WINDOW as usize);
    let mut written = 0;
    while let Some(n) = try_write(&mut stalled, &data[written..]) {
        written += n;
    }
    // Exactly one window was accepted: nothing more is buffered on our side.
    assert_eq!(written, WINDOW as usize);
    assert_eq!(stalled.send_credit(), 0);

    // Meanwhile another stream moves 8 MiB through the same connection.
    let mut busy = b.open_stream(a_id, "sink").await.expect("open");
    let (_, mut busy_in) = listener.accept().await.expect("accept");
    let bulk = pattern(8, 8 << 20);
    let sent = bulk.clone();
    let writer = tokio::spawn(async move {
        busy.write_all(&sent).await.expect("write");
        busy.shutdown().await.expect("shutdown");
        busy
    });
    let mut got = Vec::new();
    timeout(DEADLINE, busy_in.read_to_end(&mut got))
        .await
        .expect("the busy stream is not stalled")
        .expect("read");
    assert!(got == bulk);
    let _busy = writer.await.expect("writer");
    assert_eq!(try_write(&mut stalled, &data[written..]), None);
    assert_eq!(stalled.send_credit(), 0);

    // Once the reader reads, the writer gets credit and the stream carries the rest.
    let rest = data.clone();
    let writer = tokio::spawn(async move {
        stalled.write_all(&rest[written..]).await.expect("write");
        stalled.shutdown().await.expect("shutdown");
        stalled
    });
    let mut got = Vec::new();
    timeout(DEADLINE, held.read_to_end(&mut got))
        .await
        .expect("in time")
        .expect("read");
    assert!(got == data);
    let _stalled = writer.await.expect("writer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_and_missing_listener_refuse_with_a_reason() {
    let mut rng = StdRng::seed_from_u64(3);
    let a = node(&mut rng, 64 * 1024).await;
    let b = node(&mut rng, 64 * 1024).await;
    let c = node(&mut rng, 64 * 1024).await;
    connect(&b, &a).await;
    connect(&c, &a).await;
    spawn_echo(&a, "only-c", Allow::Only(HashSet::from([c.local_id()])));

    // A probe gets the same answers without opening anything.
    assert_eq!(
        b.probe_stream(a.local_id(), "only-c").await,
        Err(StreamError::Refused(ResetReason::NotAllowed))
    );
    assert_eq!(
        b.probe_stream(a.local_id(), "nobody").await,
        Err(StreamError::Refused(ResetReason::NoListener))
    );
    assert_eq!(c.probe_stream(a.local_id(), "only-c").await, Ok(()));
    let refused = b.open_stream(a.local_id(), "only-c").await.unwrap_err();
    assert_eq!(refused, StreamError::Refused(ResetReason::NotAllowed));
    let missing = b.open_stream(a.local_id(), "nobody").await.unwrap_err();
    assert_eq!(missing, StreamError::Refused(ResetReason::NoListener));
    let mut allowed = c.open_stream(a.local_id(), "only-c").await.expect("open");
    allowed.write_all(b"hi").await.expect("write");
    allowed.shutdown().await.expect("shutdown");
    let mut echoed = Vec::new();
    allowed.read_to_end(&mut echoed).await.expect("read");
    assert_eq!(echoed, b"hi");

    assert_eq!(
        a.accept_streams("only-c", Allow::All).unwrap_err(),
        StreamError::AlreadyListening("only-c".into())
    );
    let stranger = PeerId::from_secret_key(&random_secret_key(&mut rng));
    assert_eq!(
        b.open_stream(stranger, "x").await.unwrap_err(),
        StreamError::NotConnected(stranger)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_and_reset() {
    let (a, b) = pair(4, 64 * 1024).await;
    let mut listener = a.accept_streams("chat", Allow::All).expect("listen");

    // A probe is answered without reaching the listener: the first stream it yields is the
    // one opened after it.
    b.probe_stream(a.local_id(), "chat").await.expect("probe");
    // Half-close: the opener says all it has to say, then reads the answer.
    let mut stream = b.open_stream(a.local_id(), "chat").await.expect("open");
    let (peer, mut incoming) = listener.accept().await.expect("accept");
    assert_eq!(peer, b.local_id());
    assert_eq!(incoming.id(), stream.id());
    stream.write_all(b"question").await.expect("write");
    stream.shutdown().await.expect("shutdown");
    let mut question = Vec::new();
    incoming.read_to_end(&mut question).await.expect("read");
    assert_eq!(question, b"question");
    incoming.write_all(b"answer").await.expect("write");
    incoming.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    assert_eq!(answer, b"answer");
    let error = stream.write_all(b"more").await.unwrap_err();
    assert_eq!(stream_error(&error), Some(&StreamError::WriteAfterShutdown));

    // Reset: the other side's reads and writes fail with the reason.
    let stream = b.open_stream(a.local_id(), "chat").await.expect("open");
    let (_, mut incoming) = listener.accept().await.expect("accept");
    stream.reset();
    let mut buf = [0; 8];
    let error = incoming.read(&mut buf).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(
        stream_error(&error),
        Some(&StreamError::Reset(ResetReason::Cancelled))
    );

    // Dropping a stream the remote still writes to resets it too.
    let stream = b.open_stream(a.local_id(), "chat").await.expect("open");
    let (_, mut incoming) = listener.accept().await.expect("accept");
    drop(stream);
    let error = incoming.read(&mut buf).await.unwrap_err();
    assert_eq!(
        stream_error(&error),
        Some(&StreamError::Reset(ResetReason::Cancelled))
    );
}

/// `which` shuts down (0: the acceptor's node, 1: the opener's); the other side's blocked reads
/// and writes fail with `PeerGone`.
async fn node_going_away_ends_streams(which: usize) {
    let (a, b) = pair(5 + which as u64, 64 * 1024).await;
    let mut listener = a.accept_streams("long", Allow::All).expect("listen");
    let mut opened = b.open_stream(a.local_id(), "long").await.expect("open");
    let (_, mut accepted) = listener.accept().await.expect("accept");
    opened.write_all(b"before").await.expect("write");
    let mut buf = [0; 6];
    accepted.read_exact(&mut buf).await.expect("read");
    let (gone, mut survivor) = if which == 0 {
        (a, opened)
    } else {
        (b, accepted)
    };
    let reader = tokio::spawn(async move {
        let mut buf = [0; 8];
        let error = survivor.read(&mut buf).await.unwrap_err();
        (error, survivor)
    });
    gone.shutdown().await;
    let (error, mut survivor) = timeout(DEADLINE, reader).await.expect("in time").unwrap();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionAborted);
    assert_eq!(stream_error(&error), Some(&StreamError::PeerGone));
    assert_eq!(error.to_string(), "peer disconnected");
    let error = survivor.write_all(b"after").await.unwrap_err();
    assert_eq!(stream_error(&error), Some(&StreamError::PeerGone));
    if which == 0 {
        // The acceptor's node is gone: its listener ends too.
        assert!(listener.accept().await.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptor_shutting_down_ends_the_openers_streams() {
    node_going_away_ends_streams(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opener_shutting_down_ends_the_acceptors_streams() {
    node_going_away_ends_streams(1).await;
}

/// Streams `size` bytes each way at once through one stream, 64 KiB writes, and compares
/// SHA-256 digests.
async fn transfer_both_ways(size: usize) {
    let (a, b) = pair(9, StreamConfig::default().window).await;
    let mut listener = a.accept_streams("bulk", Allow::All).expect("listen");
    let opened = b.open_stream(a.local_id(), "bulk").await.expect("open");
    let (_, accepted) = listener.accept().await.expect("accept");
    let one = tokio::spawn(pump(opened, 1, size));
    let two = tokio::spawn(pump(accepted, 2, size));
    let (sent_b, got_b) = timeout(DEADLINE * 4, one).await.expect("in time").unwrap();
    let (sent_a, got_a) = timeout(DEADLINE * 4, two).await.expect("in time").unwrap();
    assert_eq!(sent_b, got_a, "opener -> acceptor");
    assert_eq!(sent_a, got_b, "acceptor -> opener");
}

/// Writes `size` pattern bytes while reading to EOF; the digests of both.
async fn pump(stream: Stream, seed: u64, size: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut read, mut write) = tokio::io::split(stream);
    let writer = async move {
        let mut digest = Sha256::new();
        let block = pattern(seed, 1 << 20);
        let mut left = size;
        while left > 0 {
            let n = left.min(block.len());
            for chunk in block[..n].chunks(64 * 1024) {
                write.write_all(chunk).await.expect("write");
            }
            digest.update(&block[..n]);
            left -= n;
        }
        write.shutdown().await.expect("shutdown");
        (digest.finalize().to_vec(), write)
    };
    let reader = async move {
        let mut digest = Sha256::new();
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            let n = read.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            total += n;
            digest.update(&buf[..n]);
        }
        (digest.finalize().to_vec(), total, read)
    };
    let ((sent, _write), (got, total, _read)) = tokio::join!(writer, reader);
    assert_eq!(total, size);
    (sent, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_both_ways() {
    transfer_both_ways(64 << 20).await;
}

/// The 256 MiB; slow in a debug build, so run it with `--ignored` (or `--release`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "256 MiB each way: run with --ignored, preferably --release"]
async fn two_hundred_fifty_six_mib_both_ways() {
    transfer_both_ways(256 << 20).await;
}

/// A peer that ignores flow control: it opens a stream with a hand-written `stream/1` handler
/// and sends more Data than the window it was granted. The receiving node drops it with a
/// subprotocol error instead of buffering the excess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_beyond_its_credit_is_disconnected() {
    use ethp2p::peer::EndCause;
    use ethp2p::streams::StreamMessage;
    const WINDOW: u32 = 64 * 1024;
    let mut rng = StdRng::seed_from_u64(11);
    let a = node(&mut rng, WINDOW).await;
    let _listener = a.accept_streams("victim", Allow::All).expect("listen");
    let rogue = ethp2p::Protocol::new(
        "stream",
        1,
        ethp2p::streams::wire::LENGTH,
        |mut peer| async move {
            // We dialed, so our ids are odd.
            let (code, payload) = StreamMessage::Open {
                id: 3,
                name: "victim",
                window: 1024,
            }
            .encode();
            peer.send(code, &payload).await?;
            let accept = peer.recv().await.ok_or("no answer")?;
            assert_eq!(accept.code, ethp2p::streams::wire::ACCEPT);
            let chunk = vec![0u8; ethp2p::streams::wire::MAX_DATA];
            // Twice the window, never waiting for credit.
            for _ in 0..2 * WINDOW as usize / chunk.len() {
                let (code, payload) = StreamMessage::Data {
                    id: 3,
                    bytes: &chunk,
                }
                .encode();
                peer.send(code, &payload).await?;
            }
            while peer.recv().await.is_some() {}
            Ok(())
        },
    );
    let b = Server::start(dialer_config(random_secret_key(&mut rng), vec![rogue]))
        .await
        .expect("start");
    let mut events = a.events();
    b.add_peer(a.local_enode());
    let end = timeout(DEADLINE, async {
        loop {
            if let PeerEvent::Removed { end, .. } = events.recv().await.expect("events") {
                return end;
            }
        }
    })
    .await
    .expect("the rogue peer is dropped");
    match end.cause {
        EndCause::ProtocolFailed { protocol, error } => {
            assert_eq!(protocol.name, "stream");
            assert!(error.contains("bytes of credit"), "{error}");
        }
        other => panic!("unexpected end {other:?}"),
    }
    b.shutdown().await;
}
