//! The node's control API: go-ethereum's `admin_*` and `rpc_modules` JSON-RPC methods, served on
//! a Unix socket in the data directory (on by default) and, when asked, over HTTP on loopback.
//! A client of the library's [`ServerHandle`](ethp2p::ServerHandle) like any other.

mod api;
mod frame;
mod ipc;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ethp2p::ServerHandle;
use jsonrpsee::server::middleware::http::HostFilterLayer;
use jsonrpsee::types::ErrorObject;
use jsonrpsee::{Methods, RpcModule};

pub use ipc::{IpcConfig, IpcServer};

/// The socket's file name in the data directory (go-ethereum's is `geth.ipc`).
pub const IPC_FILE: &str = "ethp2p.ipc";

/// Control API options of `ethp2p node` (go-ethereum's flag names).
#[derive(clap::Args)]
#[command(next_help_heading = "Control API (go-ethereum's admin JSON-RPC)")]
pub struct RpcArgs {
    /// Do not serve the control API on a Unix socket (it is on whenever there is a --datadir or
    /// an --ipcpath).
    #[arg(long)]
    ipcdisable: bool,
    /// The control socket: a bare file name goes into --datadir
    /// [default: <datadir>/ethp2p.ipc]. Created owner-only (mode 0600).
    #[arg(long)]
    ipcpath: Option<PathBuf>,
    /// Serve the control API over HTTP too (JSON-RPC 2.0 POST; no subscriptions).
    #[arg(long)]
    http: bool,
    /// Address the HTTP control API listens on. Anyone who reaches it can steer the node.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// Port of the HTTP control API; 0 picks a free one (printed at start).
    #[arg(long = "http.port", default_value_t = 8545)]
    http_port: u16,
    /// Host names accepted in the HTTP Host header, comma separated, besides the listen IP and
    /// the loopback addresses ("*" accepts any): a web page cannot reach the API through a
    /// DNS name it controls (DNS rebinding).
    #[arg(
        long = "http.vhosts",
        value_delimiter = ',',
        default_value = "localhost"
    )]
    http_vhosts: Vec<String>,
}

impl RpcArgs {
    /// Where the socket goes, if it is served.
    fn ipc_path(&self, datadir: Option<&Path>) -> Option<PathBuf> {
        if self.ipcdisable {
            return None;
        }
        match (&self.ipcpath, datadir) {
            (Some(path), Some(dir)) if path.parent() == Some(Path::new("")) => Some(dir.join(path)),
            (Some(path), _) => Some(path.clone()),
            (None, Some(dir)) => Some(dir.join(IPC_FILE)),
            (None, None) => None,
        }
    }
}

/// The running control endpoints.
pub struct Rpc {
    ipc: Option<IpcServer>,
    http: Option<jsonrpsee::server::ServerHandle>,
}

impl Rpc {
    /// The socket path and the HTTP address served, for the start-up lines.
    pub async fn start(
        args: &RpcArgs,
        server: &ServerHandle,
        listen_addr: SocketAddr,
        datadir: Option<&Path>,
    ) -> Result<(Self, Option<PathBuf>, Option<SocketAddr>), String> {
        let methods: Methods = api::methods(api::Api {
            server: server.clone(),
            listen_addr,
            p2p: crate::p2p::Registry::new(server.clone()),
        })
        .into();
        let ipc = match args.ipc_path(datadir) {
            Some(path) => Some(
                IpcServer::start(&path, methods.clone(), server.clone(), IpcConfig::default())
                    .map_err(|e| {
                        format!("cannot serve the control socket {}: {e}", path.display())
                    })?,
            ),
            None => None,
        };
        let ipc_path = ipc.as_ref().map(|s| s.path().to_owned());
        let (http, http_addr) = if args.http {
            let addr = SocketAddr::new(args.http_addr, args.http_port);
            let (handle, bound) = start_http(addr, &args.http_vhosts, methods).await?;
            (Some(handle), Some(bound))
        } else {
            (None, None)
        };
        Ok((Rpc { ipc, http }, ipc_path, http_addr))
    }

    /// Stops both endpoints; the socket file is removed.
    pub async fn stop(self) {
        if let Some(http) = self.http {
            let _ = http.stop();
            http.stopped().await;
        }
        if let Some(ipc) = self.ipc {
            ipc.stop().await;
        }
    }
}

/// jsonrpsee's HTTP server with the socket's request limit. HTTP has no notifications, so
/// `admin_subscribe` answers go-ethereum's "notifications not supported".
async fn start_http(
    addr: SocketAddr,
    vhosts: &[String],
    methods: Methods,
) -> Result<(jsonrpsee::server::ServerHandle, SocketAddr), String> {
    let hosts = if vhosts.iter().any(|host| host == "*") {
        HostFilterLayer::disable()
    } else {
        let ip = match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let names = vhosts.iter().map(String::as_str);
        let names = names.chain([ip.as_str(), "127.0.0.1", "[::1]"]);
        // Each name with or without a port.
        let patterns = names.flat_map(|name| [name.to_owned(), format!("{name}:*")]);
        HostFilterLayer::new(patterns).map_err(|e| format!("--http.vhosts: {e}"))?
    };
    let limit = IpcConfig::default().max_request as u32;
    let config = jsonrpsee::server::ServerConfig::builder()
        .http_only()
        .max_request_body_size(limit)
        .max_response_body_size(u32::MAX)
        .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Limit(
            ipc::MAX_BATCH as u32,
        ))
        .build();
    let http = jsonrpsee::server::Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(hosts))
        .build(addr)
        .await
        .map_err(|e| format!("cannot serve HTTP on {addr}: {e}"))?;
    let bound = http.local_addr().map_err(|e| e.to_string())?;
    let mut module = RpcModule::new(());
    let register = "distinct method names";
    module
        .register_method("admin_subscribe", |_, _, _| {
            Err::<(), _>(ErrorObject::owned(
                api::NOT_SUPPORTED,
                "notifications not supported",
                None::<()>,
            ))
        })
        .expect(register);
    module.merge(methods).expect(register);
    Ok((http.start(module), bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        rpc: RpcArgs,
    }

    fn ipc_path(flags: &[&str], datadir: Option<&str>) -> Option<PathBuf> {
        let flags =
            Flags::try_parse_from(std::iter::once("node").chain(flags.iter().copied())).unwrap();
        flags.rpc.ipc_path(datadir.map(Path::new))
    }

    #[test]
    fn where_the_socket_goes() {
        let dir = Some("/data");
        assert_eq!(ipc_path(&[], dir), Some("/data/ethp2p.ipc".into()));
        assert_eq!(ipc_path(&[], None), None, "no datadir, no socket");
        assert_eq!(ipc_path(&["--ipcdisable"], dir), None);
        let bare = ["--ipcpath", "my.ipc"];
        assert_eq!(ipc_path(&bare, dir), Some("/data/my.ipc".into()));
        assert_eq!(ipc_path(&bare, None), Some("my.ipc".into()));
        let absolute = ["--ipcpath", "/run/x.ipc"];
        assert_eq!(ipc_path(&absolute, dir), Some("/run/x.ipc".into()));
        let relative = ["--ipcpath", "./x.ipc"];
        assert_eq!(ipc_path(&relative, dir), Some("./x.ipc".into()));
    }
}
