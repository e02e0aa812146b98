//! A thin tokio driver for the sans-IO core: runs the handshake over an async byte stream, then
//! reads and writes whole frames through the [`FrameCodec`](super::FrameCodec).

use std::future::Future;
use std::io::IoSlice;
use std::task::Poll;

use rand_core::CryptoRng;
use secp256k1::{PublicKey, SecretKey};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{FrameOpener, FrameSealer, HEADER_LEN, MAX_FRAME_SIZE};
use super::handshake::{Established, Initiator, PacketLen, Recipient};
use super::{FrameError, HandshakeError, PeerId};

/// Why an [`RlpxStream`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RlpxError {
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// A frame failed authentication or exceeded our limit.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The remote closed the connection (cleanly or mid-frame).
    #[error("connection closed by remote")]
    Closed,
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(std::io::ErrorKind),
}

impl From<std::io::Error> for RlpxError {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::UnexpectedEof => RlpxError::Closed,
            kind => RlpxError::Io(kind),
        }
    }
}

/// Read capacity of a connection that is receiving: large enough that a burst of small frames
/// costs one read call. A quiet connection holds none (see [`FrameReadBuffer::read_frame`]).
const READ_CHUNK: usize = 4096;
/// A read buffer grown above this for a large frame is released once that frame is consumed.
const RETAINED_READ_CAPACITY: usize = 64 * 1024;

/// An established RLPx connection over any async byte stream (usually a `TcpStream`).
///
/// The cipher and MAC states (about 2.2 KB per direction) live on the heap, so the stream is small
/// to move and the futures that hold it (a peer's whole session, for a server) stay small.
pub struct RlpxStream<S> {
    io: S,
    reader: FrameReadBuffer,
    sealer: Box<FrameSealer>,
    remote_id: PeerId,
    write_buf: Vec<u8>,
}

/// The receive side's buffer and frame opener, shared by [`RlpxStream`] and [`RlpxReader`].
struct FrameReadBuffer {
    opener: Box<FrameOpener>,
    /// Bytes read from the socket; `consumed` marks the prefix already handed out as frames.
    buf: Vec<u8>,
    consumed: usize,
}

impl FrameReadBuffer {
    async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
    ) -> Result<&mut [u8], RlpxError> {
        // Drop what earlier frames consumed; usually nothing or a few bytes stay.
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
            if self.buf.is_empty() && self.buf.capacity() > RETAINED_READ_CAPACITY {
                self.buf = Vec::new();
            }
        }
        if self.buf.is_empty() && !read_available(io, &mut self.buf).await? {
            // Nothing has arrived: the remote is quiet, perhaps for a long time (an idle peer
            // sends a Ping every 15 s). Wait for the next header without holding a read buffer;
            // `fill` sizes one once data flows again.
            self.buf = Vec::with_capacity(HEADER_LEN);
        }
        fill(io, &mut self.buf, 0, HEADER_LEN).await?;
        let header: &mut [u8; HEADER_LEN] =
            (&mut self.buf[..HEADER_LEN]).try_into().expect("filled");
        let body_len = self.opener.open_header(header)?;
        fill(io, &mut self.buf, HEADER_LEN, body_len).await?;
        self.consumed = HEADER_LEN + body_len;
        let body = &mut self.buf[HEADER_LEN..HEADER_LEN + body_len];
        Ok(self.opener.open_body(body)?)
    }
}

/// Reads whatever `io` has ready into `buf` (making room for [`READ_CHUNK`] bytes), without
/// waiting: `false` if nothing is ready yet.
async fn read_available<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> Result<bool, RlpxError> {
    buf.reserve(READ_CHUNK);
    let read = io.read_buf(buf);
    tokio::pin!(read);
    std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
        Poll::Ready(Ok(0)) => Poll::Ready(Err(RlpxError::Closed)),
        Poll::Ready(Ok(_)) => Poll::Ready(Ok(true)),
        Poll::Ready(Err(error)) => Poll::Ready(Err(error.into())),
        Poll::Pending => Poll::Ready(Ok(false)),
    })
    .await
}

/// Reads into `buf` until it holds at least `len` bytes past `start`.
async fn fill<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    start: usize,
    len: usize,
) -> Result<(), RlpxError> {
    let want = start + len;
    if buf.len() >= want {
        return Ok(());
    }
    while buf.len() < want {
        // Grow with what has arrived (at most doubling), not with what a header announced: a
        // peer that announces 16 MiB and sends nothing holds only a few KiB of ours.
        let missing = want - buf.len();
        buf.reserve(missing.min(buf.len().max(READ_CHUNK)));
        if io.read_buf(buf).await? == 0 {
            return Err(RlpxError::Closed);
        }
    }
    Ok(())
}

/// How long a closing connection keeps reading after our Disconnect (see `drain`).
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads and discards until the remote closes, at most [`LINGER`]. Closing a socket that still
/// has unread incoming bytes makes the kernel send RST, and a peer that gets RST may throw away
/// our Disconnect unread; draining first lets it arrive.
async fn drain<R: AsyncRead + Unpin>(io: &mut R) {
    // On the heap: an array here would sit in every future that may drain (a peer's session).
    let mut scratch = vec![0u8; 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(io.read(&mut scratch).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The receiving half of a split [`RlpxStream`].
pub struct RlpxReader<R> {
    io: R,
    reader: FrameReadBuffer,
}

impl<R: AsyncRead + Unpin> RlpxReader<R> {
    /// See [`RlpxStream::read_frame`].
    pub async fn read_frame(&mut self) -> Result<&mut [u8], RlpxError> {
        self.reader.read_frame(&mut self.io).await
    }

    /// Discards incoming bytes until the remote closes, at most [`LINGER`]; call after sending
    /// Disconnect and shutting down the writer, before dropping the connection.
    pub async fn drain(&mut self) {
        drain(&mut self.io).await
    }
}

/// The sending half of a split [`RlpxStream`]. Sealing and writing are separate so a writer task
/// can seal several queued frames and write them with one call.
pub struct RlpxWriter<W> {
    io: W,
    sealer: Box<FrameSealer>,
}

impl<W: AsyncWrite + Unpin> RlpxWriter<W> {
    /// Seals a frame in place: `frame` holds [`HEADER_LEN`] reserved bytes, then the frame data.
    pub fn seal(&mut self, frame: &mut Vec<u8>) {
        self.sealer.seal(frame);
    }

    /// Writes sealed bytes (one or more frames) to the socket.
    pub async fn write_sealed(&mut self, bytes: &[u8]) -> Result<(), RlpxError> {
        self.io.write_all(bytes).await?;
        Ok(())
    }

    /// Writes several sealed frames, in order, with as few write calls as the socket allows.
    pub async fn write_sealed_batch(&mut self, frames: &[Vec<u8>]) -> Result<(), RlpxError> {
        let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|frame| IoSlice::new(frame)).collect();
        let mut remaining = &mut slices[..];
        while !remaining.is_empty() {
            let written = self.io.write_vectored(remaining).await?;
            if written == 0 {
                return Err(RlpxError::Io(std::io::ErrorKind::WriteZero));
            }
            IoSlice::advance_slices(&mut remaining, written);
        }
        Ok(())
    }

    /// Shuts down the write side of the socket.
    pub async fn shutdown(&mut self) -> Result<(), RlpxError> {
        self.io.shutdown().await?;
        Ok(())
    }
}

/// Reads one handshake packet, leaving any bytes after it (the first frames) in `buf`.
async fn read_packet<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    packet_len: impl Fn(&[u8]) -> Result<PacketLen, HandshakeError>,
) -> Result<usize, RlpxError> {
    loop {
        match packet_len(buf)? {
            PacketLen::Complete(len) => return Ok(len),
            PacketLen::NeedMore(len) => fill(io, buf, 0, len).await?,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RlpxStream<S> {
    /// Dials: sends auth to `remote`, reads ack. Frames up to `max_frame_size` are accepted.
    ///
    /// `static_key` is a [`NodeKey`](super::NodeKey), or a `SecretKey` whose public key is then
    /// derived on every call.
    pub async fn connect<R: CryptoRng + ?Sized>(
        mut io: S,
        static_key: impl Into<super::NodeKey>,
        remote: PublicKey,
        rng: &mut R,
        max_frame_size: usize,
    ) -> Result<Self, RlpxError> {
        let (awaiting, auth) = Initiator::random(static_key, remote, rng).write_auth(rng);
        io.write_all(&auth).await?;
        let mut buf = Vec::new();
        let len = read_packet(&mut io, &mut buf, |b| awaiting.packet_len(b)).await?;
        let established = awaiting.read_ack(&buf[..len])?;
        Ok(Self::established(io, established, buf, len, max_frame_size))
    }

    /// Accepts: reads auth, sends ack. Frames up to `max_frame_size` are accepted.
    pub async fn accept<R: CryptoRng + ?Sized>(
        mut io: S,
        static_key: SecretKey,
        rng: &mut R,
        max_frame_size: usize,
    ) -> Result<Self, RlpxError> {
        let recipient = Recipient::random(static_key, rng);
        let mut buf = Vec::new();
        let len = read_packet(&mut io, &mut buf, |b| recipient.packet_len(b)).await?;
        let received = recipient.read_auth(&buf[..len])?;
        let (established, ack) = received.write_ack(rng);
        io.write_all(&ack).await?;
        Ok(Self::established(io, established, buf, len, max_frame_size))
    }

    fn established(
        io: S,
        established: Established,
        read_buf: Vec<u8>,
        read_pos: usize,
        max_frame_size: usize,
    ) -> Self {
        let remote_id = established.remote_id;
        let (sealer, opener) = established
            .into_codec(max_frame_size.min(MAX_FRAME_SIZE))
            .split();
        RlpxStream {
            io,
            remote_id,
            reader: FrameReadBuffer {
                opener: Box::new(opener),
                buf: read_buf,
                consumed: read_pos,
            },
            sealer: Box::new(sealer),
            write_buf: Vec::new(),
        }
    }

    /// The remote's static identity, authenticated by the handshake.
    pub fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    /// The buffer [`RlpxStream::send_frame`] seals in place: cleared, with the header space
    /// reserved. Append the frame data, then call `send_frame`.
    pub fn frame_buffer(&mut self) -> &mut Vec<u8> {
        self.write_buf.clear();
        self.write_buf.resize(HEADER_LEN, 0);
        &mut self.write_buf
    }

    /// Seals the frame data appended to [`RlpxStream::frame_buffer`] and writes it.
    pub async fn send_frame(&mut self) -> Result<(), RlpxError> {
        self.sealer.seal(&mut self.write_buf);
        self.io.write_all(&self.write_buf).await?;
        Ok(())
    }

    /// Copies `data` into the frame buffer and sends it as one frame.
    pub async fn write_frame(&mut self, data: &[u8]) -> Result<(), RlpxError> {
        self.frame_buffer().extend_from_slice(data);
        self.send_frame().await
    }

    /// Reads, authenticates and decrypts the next frame, returning its data. A header announcing
    /// more than the configured maximum is rejected before any of its body is read.
    pub async fn read_frame(&mut self) -> Result<&mut [u8], RlpxError> {
        self.reader.read_frame(&mut self.io).await
    }

    /// Splits into independent halves with `split` (for a `TcpStream`, `TcpStream::into_split`;
    /// for any stream, `tokio::io::split`). Bytes already buffered stay with the reader.
    pub fn into_split<R, W>(
        self,
        split: impl FnOnce(S) -> (R, W),
    ) -> (RlpxReader<R>, RlpxWriter<W>) {
        let (read_io, write_io) = split(self.io);
        (
            RlpxReader {
                io: read_io,
                reader: self.reader,
            },
            RlpxWriter {
                io: write_io,
                sealer: self.sealer,
            },
        )
    }

    /// Flushes and shuts down the write side.
    pub async fn shutdown(&mut self) -> Result<(), RlpxError> {
        self.io.shutdown().await?;
        Ok(())
    }

    /// Shuts down the write side, then discards incoming bytes until the remote closes (at most
    /// [`LINGER`]), so a Disconnect we just sent is not lost to a reset.
    pub async fn close(&mut self) {
        if self.io.shutdown().await.is_ok() {
            drain(&mut self.io).await;
        }
    }

    /// Gives back the underlying byte stream.
    pub fn into_inner(self) -> S {
        self.io
    }
}
