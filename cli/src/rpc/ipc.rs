//! The control API on a Unix socket, as go-ethereum's IPC endpoint speaks it: a stream of JSON
//! values in each direction (requests and batches in; responses and subscription notifications
//! out, one JSON value per line). Each value is dispatched through jsonrpsee's method table.
//!
//! Bounds: a request is refused past [`IpcConfig::max_request`] bytes, a request that is begun
//! must be finished within [`IpcConfig::request_timeout`] (an idle connection between requests
//! may stay open as long as it likes: consoles and subscribers do), a client that does not
//! read its responses for that long is dropped, and at most [`IpcConfig::max_clients`] are
//! served at once. Each client refused or dropped for one of these is logged once.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ethp2p::ServerHandle;
use jsonrpsee::types::{ErrorCode, ErrorObject, ErrorObjectOwned};
use jsonrpsee::{Methods, RpcModule};
use parking_lot::Mutex;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, timeout, timeout_at};

use super::api::{self, PeerEventJson};
use super::frame::{FrameError, Framer};

/// Limits of the socket transport.
#[derive(Debug, Clone)]
pub struct IpcConfig {
    /// Longest request (or batch) in bytes: go-ethereum's HTTP limit, 5 MiB.
    pub max_request: usize,
    /// Time to finish a request once its first byte arrived, and to take a response.
    pub request_timeout: Duration,
    /// Clients served at once.
    pub max_clients: usize,
}

impl Default for IpcConfig {
    fn default() -> Self {
        IpcConfig {
            max_request: 5 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_clients: 128,
        }
    }
}

/// Requests in one batch at most (go-ethereum's default batch limit); HTTP too.
pub const MAX_BATCH: usize = 1000;
/// Subscriptions one client may hold.
const MAX_SUBSCRIPTIONS: usize = 64;
/// Responses and notifications queued for one client before its reader waits.
const OUT_QUEUE: usize = 64;
/// Bytes read from a client at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A listening control socket; dropping it without [`stop`](Self::stop) leaves the file.
pub struct IpcServer {
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl IpcServer {
    /// Binds `path` with mode 0600 before it accepts anyone, replacing a stale socket file left
    /// by a node that is gone (never a live one, nor a file that is not a socket), and serves
    /// `methods` plus the `admin` subscriptions of `server`.
    pub fn start(
        path: &Path,
        methods: Methods,
        server: ServerHandle,
        config: IpcConfig,
    ) -> io::Result<Self> {
        let listener = bind_private(path)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, methods, server, config, stopped));
        Ok(IpcServer {
            path: path.to_owned(),
            stop,
            task,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every client, stops listening and removes the socket file.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds, restricts the file to its owner, and only then listens: a connect before `listen`
/// is refused, so nobody else gets in between.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is serving this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = tokio::net::UnixSocket::new_stream()?;
    socket.bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    socket.listen(128)
}

async fn accept_loop(
    listener: UnixListener,
    methods: Methods,
    server: ServerHandle,
    config: IpcConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.max_clients));
    let mut clients = JoinSet::new();
    let mut next_client = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
            Some(_) = clients.join_next() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: the next accept may work.
                tracing::warn!(%error, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        next_client += 1;
        let client = next_client;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                client,
                limit = config.max_clients,
                "control client refused: too many clients"
            );
            continue;
        };
        let connection = Connection::new(server.clone(), methods.clone());
        let config = config.clone();
        clients.spawn(async move {
            serve(stream, client, connection, &config).await;
            drop(slot);
        });
    }
    // Dropping the set aborts every client task.
}

/// What one client's methods share: its outgoing queue and its subscriptions.
struct Client {
    server: ServerHandle,
    out: mpsc::Sender<String>,
    subscriptions: Mutex<Subscriptions>,
    /// Subscriptions created by the request being answered: they start notifying once its
    /// response is queued, so the client always learns the id first.
    to_activate: Mutex<Vec<oneshot::Sender<()>>>,
}

#[derive(Default)]
struct Subscriptions {
    next: u64,
    live: HashMap<String, AbortHandle>,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for task in self.live.values() {
            task.abort();
        }
    }
}

/// A client's method table and the receiving end of its outgoing queue.
struct Connection {
    client: Arc<Client>,
    module: RpcModule<Arc<Client>>,
    out: mpsc::Receiver<String>,
}

impl Connection {
    fn new(server: ServerHandle, methods: Methods) -> Self {
        let (out, out_rx) = mpsc::channel(OUT_QUEUE);
        let client = Arc::new(Client {
            server,
            out,
            subscriptions: Mutex::default(),
            to_activate: Mutex::default(),
        });
        let mut module = RpcModule::new(client.clone());
        let register = "distinct method names";
        module
            .register_method("admin_subscribe", |params, client, _| {
                subscribe(&params, client)
            })
            .expect(register);
        module
            .register_method("admin_unsubscribe", |params, client, _| {
                let id: String = params.one()?;
                match client.subscriptions.lock().live.remove(&id) {
                    Some(task) => {
                        task.abort();
                        Ok(true)
                    }
                    None => Err(ErrorObject::owned(
                        api::SERVER_ERROR,
                        "subscription not found",
                        None::<()>,
                    )),
                }
            })
            .expect(register);
        module.merge(methods).expect(register);
        Connection {
            client,
            module,
            out: out_rx,
        }
    }
}

/// `admin_subscribe("peerEvents")`: go-ethereum's string ids, notifications as
/// `admin_subscription`.
fn subscribe(
    params: &jsonrpsee::types::Params,
    client: &Arc<Client>,
) -> Result<String, ErrorObjectOwned> {
    api::subscription_name(params)?;
    let mut subscriptions = client.subscriptions.lock();
    if subscriptions.live.len() >= MAX_SUBSCRIPTIONS {
        return Err(ErrorObject::owned(
            api::SERVER_ERROR,
            format!("at most {MAX_SUBSCRIPTIONS} subscriptions per client"),
            None::<()>,
        ));
    }
    subscriptions.next += 1;
    let id = format!("0x{:032x}", subscriptions.next);
    // Receiving from now on: nothing between this response and the first notification is lost.
    let events = client.server.events();
    let (activate, activated) = oneshot::channel();
    client.to_activate.lock().push(activate);
    let task = tokio::spawn(forward_events(
        events,
        client.out.clone(),
        id.clone(),
        activated,
    ));
    subscriptions.live.insert(id.clone(), task.abort_handle());
    Ok(id)
}

async fn forward_events(
    mut events: broadcast::Receiver<ethp2p::PeerEvent>,
    out: mpsc::Sender<String>,
    id: String,
    activated: oneshot::Receiver<()>,
) {
    if activated.await.is_err() {
        return;
    }
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(subscription = %id, missed, "peer events missed by a slow control client");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(result) = PeerEventJson::from_event(&event) else {
            continue;
        };
        let notification = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "admin_subscription",
            "params": { "subscription": id, "result": result },
        });
        if out.send(notification.to_string()).await.is_err() {
            return;
        }
    }
}

/// Why a client was dropped (logged once).
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("request not finished within {0:?}")]
    Stalled(Duration),
    #[error("read failed: {0}")]
    Read(io::Error),
}

async fn serve(stream: UnixStream, client: u64, connection: Connection, config: &IpcConfig) {
    let (reader, writer) = stream.into_split();
    let Connection {
        client: state,
        module,
        out,
    } = connection;
    let read_side = async move {
        let result = read_requests(reader, &module, &state, config).await;
        // The module and `state` hold the last senders of the queue: dropping them lets the
        // writer finish what is queued and end.
        drop(module);
        drop(state);
        result
    };
    let (read, write) = tokio::join!(read_side, write_responses(writer, out, config));
    if let Err(reason) = read {
        tracing::warn!(client, %reason, "control client dropped");
    } else if let Err(reason) = write {
        tracing::warn!(client, %reason, "control client dropped");
    }
}

async fn read_requests(
    mut reader: OwnedReadHalf,
    module: &RpcModule<Arc<Client>>,
    client: &Arc<Client>,
    config: &IpcConfig,
) -> Result<(), Rejected> {
    let mut framer = Framer::new(config.max_request);
    let mut chunk = vec![0u8; READ_CHUNK];
    // When the request being read must be complete.
    let mut deadline: Option<Instant> = None;
    loop {
        match framer.next_value() {
            Ok(Some(request)) => {
                deadline = None;
                let response = answer(module, &request).await;
                if let Some(response) = response {
                    if client.out.send(response).await.is_err() {
                        return Ok(());
                    }
                }
                for activate in client.to_activate.lock().drain(..) {
                    let _ = activate.send(());
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => {
                let (code, message) = match error {
                    FrameError::TooLarge { .. } => {
                        (ErrorCode::OversizedRequest.code(), error.to_string())
                    }
                    FrameError::NotAnObject(_) => {
                        (ErrorCode::InvalidRequest.code(), error.to_string())
                    }
                };
                let _ = client
                    .out
                    .send(error_response(&Value::Null, code, &message))
                    .await;
                return Err(error.into());
            }
        }
        if framer.in_progress() && deadline.is_none() {
            deadline = Some(Instant::now() + config.request_timeout);
        }
        let read = match deadline {
            Some(deadline) => timeout_at(deadline, reader.read(&mut chunk))
                .await
                .map_err(|_| Rejected::Stalled(config.request_timeout))?,
            None => reader.read(&mut chunk).await,
        };
        match read {
            Ok(0) => return Ok(()),
            Ok(n) => framer.push(&chunk[..n]),
            Err(error) => return Err(Rejected::Read(error)),
        }
    }
}

async fn write_responses(
    mut writer: OwnedWriteHalf,
    mut out: mpsc::Receiver<String>,
    config: &IpcConfig,
) -> Result<(), String> {
    while let Some(mut line) = out.recv().await {
        line.push('\n');
        match timeout(config.request_timeout, writer.write_all(line.as_bytes())).await {
            Ok(Ok(())) => {}
            // The client went away; its reader ends on its own.
            Ok(Err(_)) => return Ok(()),
            Err(_) => {
                return Err(format!(
                    "responses not read within {:?}",
                    config.request_timeout
                ));
            }
        }
    }
    let _ = writer.shutdown().await;
    Ok(())
}

fn error_response(id: &Value, code: i32, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
    .to_string()
}

/// The answer to one request or batch; `None` when it held only notifications.
async fn answer(module: &RpcModule<Arc<Client>>, request: &[u8]) -> Option<String> {
    let Ok(text) = std::str::from_utf8(request) else {
        let code = ErrorCode::ParseError.code();
        return Some(error_response(&Value::Null, code, "request is not UTF-8"));
    };
    if !text.starts_with('[') {
        return answer_one(module, text).await;
    }
    let items: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(items) => items,
        Err(error) => return Some(parse_error(&error)),
    };
    let invalid = ErrorCode::InvalidRequest.code();
    if items.is_empty() {
        return Some(error_response(&Value::Null, invalid, "empty batch"));
    }
    if items.len() > MAX_BATCH {
        let message = format!("batch too large (at most {MAX_BATCH} requests)");
        return Some(error_response(&Value::Null, invalid, &message));
    }
    let mut answers = Vec::new();
    for item in items {
        answers.extend(answer_one(module, item.get()).await);
    }
    (!answers.is_empty()).then(|| format!("[{}]", answers.join(",")))
}

/// The response to text that is not JSON (JSON-RPC 2.0 section 5.1: id null).
fn parse_error(error: &serde_json::Error) -> String {
    let message = format!("parse error: {error}");
    error_response(&Value::Null, ErrorCode::ParseError.code(), &message)
}

async fn answer_one(module: &RpcModule<Arc<Client>>, text: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => return Some(parse_error(&error)),
    };
    let invalid = ErrorCode::InvalidRequest.code();
    let Some(object) = value.as_object() else {
        return Some(error_response(&Value::Null, invalid, "invalid request"));
    };
    let Some(id) = object.get("id").cloned() else {
        // A notification: run it, answer nothing (JSON-RPC 2.0, section 4.1).
        let mut with_id = object.clone();
        with_id.insert("id".into(), Value::Null);
        let _ = module
            .raw_json_request(&Value::Object(with_id).to_string(), 1)
            .await;
        return None;
    };
    match module.raw_json_request(text, 1).await {
        Ok((response, _)) => Some(response.get().to_owned()),
        Err(error) => Some(error_response(
            &id,
            invalid,
            &format!("invalid request: {error}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    const DEADLINE: Duration = Duration::from_secs(20);

    async fn node() -> ServerHandle {
        let key = ethp2p::rlpx::random_secret_key(&mut rand::make_rng::<rand::rngs::StdRng>());
        let mut config = ethp2p::ServerConfig::new(key);
        config.listen_addr = None;
        ethp2p::Server::start(config).await.unwrap()
    }

    /// The node's methods, as `ethp2p node` registers them.
    fn test_methods(server: &ServerHandle) -> Methods {
        api::methods(api::Api {
            server: server.clone(),
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            p2p: crate::p2p::Registry::new(server.clone()),
        })
        .into()
    }

    async fn ask(stream: &mut BufReader<UnixStream>, request: &str) -> Value {
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        timeout(DEADLINE, stream.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Past the client limit a connection is closed at once; the clients served are not
    /// disturbed, and a slot freed is taken again.
    #[tokio::test]
    async fn clients_past_the_limit_are_refused() {
        let dir = std::env::temp_dir().join(format!("ethp2p-ipc-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.ipc");
        let server = node().await;
        let methods = test_methods(&server);
        let config = IpcConfig {
            max_clients: 1,
            ..IpcConfig::default()
        };
        let ipc = IpcServer::start(&path, methods, server.clone(), config).unwrap();
        let request = r#"{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}"#;
        let mut first = BufReader::new(UnixStream::connect(&path).await.unwrap());
        assert_eq!(ask(&mut first, request).await["id"], 1);
        let mut second = UnixStream::connect(&path).await.unwrap();
        let mut rest = Vec::new();
        let read = timeout(DEADLINE, second.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0))), "refused: {read:?}");
        assert_eq!(ask(&mut first, request).await["id"], 1);
        drop(first);
        // The slot comes back once the first client's task ends; until then a connection may
        // still be refused, so try until one is served.
        let served = timeout(DEADLINE, async {
            loop {
                let mut third = BufReader::new(UnixStream::connect(&path).await.unwrap());
                // A refused connection may be closed before the request is written.
                if third.get_mut().write_all(request.as_bytes()).await.is_ok() {
                    let mut line = String::new();
                    if third.read_line(&mut line).await.unwrap_or(0) > 0 {
                        return line;
                    }
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("a slot again");
        assert!(served.contains("\"rpc\":\"1.0\""), "{served}");
        ipc.stop().await;
        server.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A client that began a request and stalls is dropped after the request timeout; one that
    /// sat idle between requests for longer is still served.
    #[tokio::test]
    async fn a_stalled_request_is_dropped_and_an_idle_client_is_not() {
        let dir = std::env::temp_dir().join(format!("ethp2p-ipc-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.ipc");
        let server = node().await;
        let methods = test_methods(&server);
        let config = IpcConfig {
            request_timeout: Duration::from_millis(200),
            ..IpcConfig::default()
        };
        // A socket file left by a node that is gone is replaced; a file that is not a socket
        // is not.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let ipc = IpcServer::start(&path, methods, server.clone(), config).unwrap();
        let plain = dir.join("plain");
        std::fs::write(&plain, b"keep").unwrap();
        let methods: Methods = RpcModule::new(()).into();
        let refused = IpcServer::start(&plain, methods, server.clone(), IpcConfig::default());
        assert_eq!(
            refused.err().map(|e| e.kind()),
            Some(io::ErrorKind::AlreadyExists)
        );
        assert_eq!(std::fs::read(&plain).unwrap(), b"keep");
        // A second server on a live socket is refused; the first keeps its file.
        let methods: Methods = RpcModule::new(()).into();
        let busy = IpcServer::start(&path, methods, server.clone(), IpcConfig::default());
        assert_eq!(busy.err().map(|e| e.kind()), Some(io::ErrorKind::AddrInUse));

        let mut idle = BufReader::new(UnixStream::connect(&path).await.unwrap());
        let request = r#"{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}"#;
        assert_eq!(ask(&mut idle, request).await["result"]["rpc"], "1.0");

        let mut stalled = UnixStream::connect(&path).await.unwrap();
        stalled.write_all(br#"{"jsonrpc":"2.0","#).await.unwrap();
        let mut rest = Vec::new();
        let read = timeout(DEADLINE, stalled.read_to_end(&mut rest)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "closed without an answer: {read:?}"
        );

        // Idle since before the stalled client connected, longer than the request timeout.
        assert_eq!(ask(&mut idle, request).await["id"], 1);
        ipc.stop().await;
        assert!(!path.exists(), "the socket file is removed");
        server.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
