//! [`UdpResolver`]: TXT lookups sent straight to one DNS server, over one UDP socket.
//!
//! Why not a general-purpose resolver for this: a tree is read one small TXT record at a time,
//! and every record is verified by the client (its hash, the root's signature), so what a
//! resolver adds per lookup (a fresh socket per query against spoofed answers, caches, search
//! lists) is cost without benefit here. One connected socket, a random message id per query,
//! and one task that routes answers to the lookups waiting for them keep a lookup to one send
//! and one receive. Answers too long for a datagram are asked again over TCP (RFC 7766).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::message::{Answer, decode_answer, encode_query, message_id};
use super::resolver::{ResolveError, Resolver};

/// The largest datagram read: a server may answer with more than the EDNS size we offer, and
/// a datagram cut short by a small buffer would only fail to parse.
const MAX_DATAGRAM: usize = 65_535;

/// Where an answer (the raw message) goes: the lookup waiting under its message id.
type AnswerSender = oneshot::Sender<Result<Vec<u8>, ResolveError>>;
type AnswerReceiver = oneshot::Receiver<Result<Vec<u8>, ResolveError>>;
type Waiters = Mutex<HashMap<u16, AnswerSender>>;

/// TXT lookups at one DNS server (`127.0.0.1:PORT` in tests, or a known recursive resolver),
/// with no dependency beyond tokio. Clones share the socket. Lookups are not retried here: the
/// client's drivers bound each with a timeout and retry on their own schedule.
#[derive(Clone, Debug)]
pub struct UdpResolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    server: SocketAddr,
    socket: Arc<UdpSocket>,
    waiters: Arc<Waiters>,
    reader: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl UdpResolver {
    /// A resolver asking `server`. Must be called within a tokio runtime (it starts the task
    /// that receives answers).
    pub async fn with_server(server: SocketAddr) -> io::Result<UdpResolver> {
        let local: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        // Connected: the kernel drops datagrams from anyone but the server.
        socket.connect(server).await?;
        let socket = Arc::new(socket);
        let waiters = Arc::new(Waiters::default());
        let reader = tokio::spawn(route_answers(socket.clone(), waiters.clone()));
        Ok(UdpResolver {
            inner: Arc::new(Inner {
                server,
                socket,
                waiters,
                reader,
            }),
        })
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.inner.server
    }

    /// Registers a lookup under a free random id.
    fn register(&self) -> (Registration<'_>, AnswerReceiver) {
        let (sender, receiver) = oneshot::channel();
        let mut waiters = lock(&self.inner.waiters);
        let id = loop {
            let id = rand::random::<u16>();
            if !waiters.contains_key(&id) {
                break id;
            }
        };
        waiters.insert(id, sender);
        let registration = Registration {
            waiters: &self.inner.waiters,
            id,
        };
        (registration, receiver)
    }

    async fn lookup(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        if self.inner.reader.is_finished() {
            // The socket failed for good (see `route_answers`): say so rather than time out.
            return Err(ResolveError::ServerFailure);
        }
        let (registration, answer) = self.register();
        let query = encode_query(registration.id, name)?;
        self.inner
            .socket
            .send(&query)
            .await
            .map_err(|_| ResolveError::ServerFailure)?;
        let message = answer.await.map_err(|_| ResolveError::ServerFailure)??;
        match decode_answer(&message, registration.id, name)? {
            Answer::Texts(texts) => found(texts),
            Answer::Truncated => {
                let message = ask_over_tcp(self.inner.server, &query).await?;
                match decode_answer(&message, registration.id, name)? {
                    Answer::Texts(texts) => found(texts),
                    Answer::Truncated => Err(ResolveError::InvalidAnswer),
                }
            }
        }
    }
}

impl Resolver for UdpResolver {
    async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        self.lookup(name).await
    }
}

/// A name without TXT records is, to the client, a name without entries.
fn found(texts: Vec<String>) -> Result<Vec<String>, ResolveError> {
    if texts.is_empty() {
        Err(ResolveError::NotFound)
    } else {
        Ok(texts)
    }
}

/// A lookup's place in the routing table, given up when the lookup ends or is dropped (timed
/// out), so that a late answer finds nobody and is discarded.
struct Registration<'a> {
    waiters: &'a Waiters,
    id: u16,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(self.waiters).remove(&self.id);
    }
}

fn lock(waiters: &Waiters) -> std::sync::MutexGuard<'_, HashMap<u16, AnswerSender>> {
    // The map stays consistent if a holder panicked: entries are inserted and removed whole.
    waiters
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Receives every datagram and hands it to the lookup whose id it carries; datagrams for no
/// lookup (late, duplicated, forged) are dropped. An ICMP error on the connected socket (the
/// server's port is closed) fails every waiting lookup at once instead of letting each time out.
async fn route_answers(socket: Arc<UdpSocket>, waiters: Arc<Waiters>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv(&mut buffer).await {
            Ok(len) => {
                let Some(id) = message_id(&buffer[..len]) else {
                    continue;
                };
                if let Some(waiter) = lock(&waiters).remove(&id) {
                    let _ = waiter.send(Ok(buffer[..len].to_vec()));
                }
            }
            Err(error) => {
                tracing::debug!(%error, "DNS socket error; failing the waiting lookups");
                for (_, waiter) in lock(&waiters).drain() {
                    let _ = waiter.send(Err(ResolveError::ServerFailure));
                }
                if error.kind() != io::ErrorKind::ConnectionRefused {
                    // Not a transient ICMP report: stop rather than spin on a broken socket.
                    return;
                }
            }
        }
    }
}

/// Asks `query` over TCP, with its two-byte length prefix (RFC 1035 §4.2.2).
async fn ask_over_tcp(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, ResolveError> {
    let failure = |_| ResolveError::ServerFailure;
    let mut stream = TcpStream::connect(server).await.map_err(failure)?;
    let mut framed = Vec::with_capacity(2 + query.len());
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(failure)?;
    let len = stream.read_u16().await.map_err(failure)? as usize;
    let mut message = vec![0u8; len];
    stream.read_exact(&mut message).await.map_err(failure)?;
    Ok(message)
}
