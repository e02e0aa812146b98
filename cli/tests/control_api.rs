//! `ethp2p node`'s control API: go-ethereum's console (`geth attach`, v1.17.10, built by
//! `scripts/install-geth-tools.sh`) drives the node over its socket; the JSON-RPC error cases
//! over the socket and HTTP; `admin_addPeer` connects two nodes and `admin_subscribe`
//! ("peerEvents") reports it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ethp2p_discovery::{Enode, NodeId};
use serde_json::{Value, json};

#[path = "support/node_process.rs"]
mod node_process;

use node_process::NodeProcess;

/// Kills a node if the test has not finished by then, so a broken node fails the test instead
/// of hanging it.
const WATCHDOG: Duration = Duration::from_secs(120);
/// Upper bound for one answer on a socket; never a pacing delay.
const DEADLINE: Duration = Duration::from_secs(20);
/// The node's request limit (go-ethereum's 5 MiB).
const MAX_REQUEST: usize = 5 * 1024 * 1024;

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ethp2p-rpc-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `ethp2p node --datadir D --http`, killed on drop.
struct Node {
    process: NodeProcess,
    enode: Enode,
    ipc: PathBuf,
    http: SocketAddr,
    _dir: TempDir,
}

impl Node {
    fn start() -> Self {
        let dir = TempDir::new();
        let args = [
            OsStr::new("--http"),
            OsStr::new("--http.port"),
            OsStr::new("0"),
            OsStr::new("--datadir"),
        ];
        let datadir = dir.0.join("node");
        let mut process =
            NodeProcess::start(args.into_iter().chain([datadir.as_os_str()]), WATCHDOG);
        let ipc = PathBuf::from(process.stderr_line("control socket: "));
        let http = process
            .stderr_line("control http: http://")
            .parse()
            .unwrap();
        Node {
            enode: process.enode.parse().unwrap(),
            process,
            ipc,
            http,
            _dir: dir,
        }
    }

    /// Waits for the node's next output line starting with `prefix`.
    fn wait_line(&mut self, prefix: &str) {
        self.process.wait_line(prefix);
    }

    fn client(&self) -> Client {
        Client::connect(&self.ipc)
    }
}

/// A JSON-RPC client on the control socket: the node writes one JSON value per line.
struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl Client {
    fn connect(path: &Path) -> Self {
        let stream = UnixStream::connect(path).expect("connect to the control socket");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_id: 0,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// The next value the node writes; `None` once it closed the connection.
    fn next(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("an answer in time");
        (n > 0).then(|| serde_json::from_str(&line).expect("one JSON value per line"))
    }

    /// Calls `method` and returns its whole response.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(request.to_string().as_bytes());
        let response = self.next().expect("a response");
        assert_eq!(response["id"], id, "{response}");
        response
    }

    fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The connection was closed by the node (after any answers still queued).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error response: {response}"))
}

/// POSTs `body` to the node's HTTP endpoint; returns the status line and the body.
fn http_post(addr: SocketAddr, body: &[u8]) -> (String, String) {
    http_post_to_host(addr, "localhost", body)
}

fn http_post_to_host(addr: SocketAddr, host: &str, body: &[u8]) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before the whole body is written.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn http_call(addr: SocketAddr, request: Value) -> Value {
    let (status, body) = http_post(addr, request.to_string().as_bytes());
    assert!(status.starts_with("HTTP/1.1 200"), "{status}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// `geth attach --exec SCRIPT SOCKET`; its stdout, trimmed.
fn geth_exec(geth: &Path, socket: &Path, script: &str, home: &Path) -> String {
    let output = Command::new(geth)
        .arg("attach")
        .arg("--exec")
        .arg(script)
        .arg(socket)
        // Whatever the console keeps (history, keystore lookups) goes to a directory we remove.
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run geth attach");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success(),
        "geth attach --exec {script:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn geth_console_reads_node_info_and_lists_a_peer_it_added() {
    let geth = ethp2p_testkit::geth_tool("geth");
    let home = TempDir::new();
    let mut a = Node::start();
    let b = Node::start();
    let enode = geth_exec(&geth, &a.ipc, "admin.nodeInfo.enode", &home.0);
    assert_eq!(enode, format!("\"{}\"", a.enode));

    let added = geth_exec(
        &geth,
        &a.ipc,
        &format!("admin.addPeer('{}')", b.enode),
        &home.0,
    );
    assert_eq!(added, "true");
    a.wait_line("peer added");
    let peers = geth_exec(&geth, &a.ipc, "JSON.stringify(admin.peers)", &home.0);
    // The console prints the string JSON.stringify made as a JSON string.
    let peers: String = serde_json::from_str(&peers).unwrap();
    let peers: Value = serde_json::from_str(&peers).unwrap();
    let peers = peers.as_array().unwrap();
    assert_eq!(peers.len(), 1, "{peers:?}");
    let peer = &peers[0];
    assert_eq!(peer["id"], NodeId::from_peer_id(&b.enode.id).to_string());
    assert_eq!(peer["enode"], b.enode.to_string());
    assert_eq!(peer["network"]["static"], true);
    assert_eq!(peer["network"]["inbound"], false);
    assert_eq!(peer["caps"], json!(["demo/1", "stream/1"]));

    // A bad URL is the console's error, as go-ethereum gives it.
    let output = Command::new(&geth)
        .args(["attach", "--exec", "admin.addPeer('enode://nothing')"])
        .arg(&a.ipc)
        .env("HOME", &home.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("invalid enode"), "{text}");
}

#[test]
fn socket_errors_and_limits() {
    let node = Node::start();
    let mode = std::fs::metadata(&node.ipc).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only socket");

    let mut client = node.client();
    let modules = client.result("rpc_modules", json!([]));
    assert_eq!(modules, json!({"admin": "1.0", "p2p": "1.0", "rpc": "1.0"}));
    let unknown = client.call("admin_noSuchMethod", json!([]));
    assert_eq!(error_code(&unknown), -32601);
    let wrong_type = client.call("admin_addPeer", json!([5]));
    assert_eq!(error_code(&wrong_type), -32602);
    let missing = client.call("admin_removePeer", json!([]));
    assert_eq!(error_code(&missing), -32602);
    let bad_url = client.call("admin_addTrustedPeer", json!(["enode://nothing"]));
    assert_eq!(error_code(&bad_url), -32000);
    assert!(
        bad_url["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid enode"),
        "{bad_url}"
    );
    let unknown_subscription = client.call("admin_subscribe", json!(["logs"]));
    assert_eq!(error_code(&unknown_subscription), -32601);

    // Not JSON-RPC, but well framed: answered, and the connection goes on.
    client.send_raw(b"{\"id\": 9, \"no\": \"method\"}");
    assert_eq!(error_code(&client.next().unwrap()), -32600);
    client.send_raw(b"{ not json }");
    assert_eq!(error_code(&client.next().unwrap()), -32700);
    // A batch, with a notification in it that gets no answer.
    client.send_raw(
        br#"[{"jsonrpc":"2.0","id":"x","method":"rpc_modules"},{"jsonrpc":"2.0","method":"rpc_modules"},{"jsonrpc":"2.0","id":7,"method":"nope"}]"#,
    );
    let batch = client.next().unwrap();
    let batch = batch.as_array().expect("a batch answer");
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0]["id"], "x");
    assert_eq!(error_code(&batch[1]), -32601);
    let info = client.result("admin_nodeInfo", json!([]));
    assert_eq!(info["enode"], node.enode.to_string());

    // One client stuck in the middle of a request does not hold up another.
    let mut stalled = node.client();
    stalled.send_raw(br#"{"jsonrpc":"2.0","id":1,"method":"#);
    let mut other = node.client();
    assert_eq!(other.result("admin_peers", json!([])), json!([]));
    drop(stalled);

    // Over the limit: refused before it is read whole, and the connection is closed.
    let mut big = node.client();
    let padding = "a".repeat(MAX_REQUEST);
    let request =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"rpc_modules","params":["{padding}"]}}"#);
    // The node stops reading at the limit; the rest of the write may fail.
    let _ = big.writer.write_all(request.as_bytes());
    let refused = big.next().expect("an error before the close");
    assert_eq!(error_code(&refused), -32007, "{refused}");
    assert!(big.closed());
    // Junk that is not a JSON object or array cannot be framed: an error, then the close.
    let mut junk = node.client();
    junk.send_raw(b"hello\n");
    assert_eq!(error_code(&junk.next().unwrap()), -32600);
    assert!(junk.closed());

    // The node is still serving.
    assert_eq!(other.result("rpc_modules", json!([]))["admin"], "1.0");
}

#[test]
fn http_errors_and_limits() {
    let node = Node::start();
    let modules = http_call(
        node.http,
        json!({"jsonrpc": "2.0", "id": 1, "method": "rpc_modules"}),
    );
    assert_eq!(
        modules["result"],
        json!({"admin": "1.0", "p2p": "1.0", "rpc": "1.0"})
    );
    let info = http_call(
        node.http,
        json!({"jsonrpc": "2.0", "id": 1, "method": "admin_nodeInfo"}),
    );
    assert_eq!(info["result"]["enode"], node.enode.to_string());
    let unknown = http_call(
        node.http,
        json!({"jsonrpc": "2.0", "id": 1, "method": "admin_noSuchMethod"}),
    );
    assert_eq!(error_code(&unknown), -32601);
    let wrong = http_call(
        node.http,
        json!({"jsonrpc": "2.0", "id": 1, "method": "admin_addPeer", "params": [[1]]}),
    );
    assert_eq!(error_code(&wrong), -32602);
    let no_notifications = http_call(
        node.http,
        json!({"jsonrpc": "2.0", "id": 1, "method": "admin_subscribe", "params": ["peerEvents"]}),
    );
    assert_eq!(error_code(&no_notifications), -32601);

    // A client that never finishes its request head does not hold up another.
    let mut stalled = std::net::TcpStream::connect(node.http).unwrap();
    stalled.write_all(b"POST / HTTP/1.1\r\nContent-Ty").unwrap();
    let modules = http_call(
        node.http,
        json!({"jsonrpc": "2.0", "id": 2, "method": "rpc_modules"}),
    );
    assert_eq!(modules["id"], 2);

    let padding = "a".repeat(MAX_REQUEST);
    let body =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"rpc_modules","params":["{padding}"]}}"#);
    let (status, _) = http_post(node.http, body.as_bytes());
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // Only the names in --http.vhosts (localhost) and IP literals of ours: a page on a DNS
    // name that resolves to 127.0.0.1 is refused.
    let request = br#"{"jsonrpc":"2.0","id":1,"method":"rpc_modules"}"#;
    let (status, _) = http_post_to_host(node.http, "rebind.example:8545", request);
    assert!(status.starts_with("HTTP/1.1 403"), "{status}");
    let (status, _) = http_post_to_host(node.http, &node.http.to_string(), request);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    drop(stalled);
}

#[test]
fn add_peer_connects_two_nodes_and_peer_events_report_it() {
    let mut a = Node::start();
    let mut b = Node::start();
    let b_id = NodeId::from_peer_id(&b.enode.id).to_string();
    let mut events = a.client();
    let subscription = events.result("admin_subscribe", json!(["peerEvents"]));
    assert!(subscription.as_str().unwrap().starts_with("0x"));

    let mut control = a.client();
    assert_eq!(
        control.result("admin_addPeer", json!([b.enode.to_string()])),
        true
    );
    let add = events.next().expect("a peer event");
    assert_eq!(add["method"], "admin_subscription");
    assert_eq!(add["params"]["subscription"], subscription);
    let event = &add["params"]["result"];
    assert_eq!(event["type"], "add", "{add}");
    assert_eq!(event["peer"], b_id);
    assert_eq!(
        event["remote"],
        format!("{}:{}", b.enode.ip, b.enode.tcp_port)
    );
    a.wait_line("peer added");
    // B sees the same connection from its side.
    b.wait_line("peer added");
    let on_b = b.client().result("admin_peers", json!([]));
    assert_eq!(on_b[0]["id"], NodeId::from_peer_id(&a.enode.id).to_string());
    assert_eq!(on_b[0]["network"]["inbound"], true);
    assert_eq!(on_b[0]["network"]["static"], false);
    assert_eq!(on_b[0]["network"]["localAddress"], event["remote"]);

    let peers = control.result("admin_peers", json!([]));
    assert_eq!(peers[0]["id"], b_id);
    assert_eq!(peers[0]["network"]["trusted"], false);
    assert_eq!(
        control.result("admin_addTrustedPeer", json!([b.enode.to_string()])),
        true
    );
    let peers = control.result("admin_peers", json!([]));
    assert_eq!(peers[0]["network"]["trusted"], true);
    assert_eq!(
        control.result("admin_removeTrustedPeer", json!([b.enode.to_string()])),
        true
    );
    let peers = control.result("admin_peers", json!([]));
    assert_eq!(peers[0]["network"]["trusted"], false);

    assert_eq!(
        control.result("admin_removePeer", json!([b.enode.to_string()])),
        true
    );
    let drop = events.next().expect("a peer event");
    let event = &drop["params"]["result"];
    assert_eq!(event["type"], "drop", "{drop}");
    assert_eq!(event["peer"], b_id);
    assert_eq!(event["error"], "disconnect requested");

    assert_eq!(
        events.result("admin_unsubscribe", json!([subscription])),
        true
    );
    let again = events.call("admin_unsubscribe", json!([subscription]));
    assert_eq!(error_code(&again), -32000);
}
