//! [`Resolver`] over real DNS, with hickory-resolver (the `dns-resolver` feature).

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::RData;

use super::entry::join_character_strings;
use super::resolver::{ResolveError, Resolver};

/// TXT lookups through hickory-resolver. Its own answer cache is off: the client caches
/// verified entries itself, and a root must be read fresh when it is rechecked.
#[derive(Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryResolver").finish_non_exhaustive()
    }
}

impl HickoryResolver {
    /// The system's resolver configuration (`/etc/resolv.conf` on Unix).
    pub fn system() -> Result<Self, ResolveError> {
        let builder = TokioResolver::builder_tokio().map_err(|_| ResolveError::ServerFailure)?;
        Self::build(builder)
    }

    /// Asks only the DNS server at `server` (UDP, falling back to TCP for long answers), as a
    /// test's local server on `127.0.0.1:PORT`.
    pub fn with_server(server: SocketAddr) -> Result<Self, ResolveError> {
        let mut udp = ConnectionConfig::udp();
        udp.port = server.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = server.port();
        let name_server = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
        Self::build(TokioResolver::builder_with_config(
            config,
            TokioRuntimeProvider::default(),
        ))
    }

    fn build(
        mut builder: hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
    ) -> Result<Self, ResolveError> {
        let options = builder.options_mut();
        options.cache_size = 0;
        // The client's driver bounds each lookup; one attempt per lookup, retried by the client.
        options.attempts = 1;
        let inner = builder.build().map_err(|_| ResolveError::ServerFailure)?;
        Ok(HickoryResolver { inner })
    }
}

impl Resolver for HickoryResolver {
    async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        // A trailing dot makes the name fully qualified: no search domains are tried.
        let lookup = self
            .inner
            .txt_lookup(format!("{name}."))
            .await
            .map_err(classify)?;
        let mut texts = Vec::new();
        for record in lookup.answers() {
            if let RData::TXT(txt) = &record.data {
                let text = join_character_strings(&txt.txt_data)
                    .map_err(|_| ResolveError::InvalidAnswer)?;
                texts.push(text);
            }
        }
        if texts.is_empty() {
            return Err(ResolveError::NotFound);
        }
        Ok(texts)
    }
}

fn classify(error: NetError) -> ResolveError {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(_)) => ResolveError::NotFound,
        NetError::Timeout => ResolveError::Timeout,
        NetError::Proto(_) => ResolveError::InvalidAnswer,
        _ => ResolveError::ServerFailure,
    }
}
