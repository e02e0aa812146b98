//! Why a server could not start, typed so a caller can tell a mistake in its configuration
//! from a failure of the machine it runs on.

use std::net::SocketAddr;

use ethp2p_discovery::enr::EnrError;
use ethp2p_discovery::local_record::LocalRecordError;
use ethp2p_discovery::v5::EncodeError;

use crate::Blame;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listen address (TCP, or discovery's UDP) failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// An entry of [`DiscoveryConfig::record_entries`](super::DiscoveryConfig::record_entries)
    /// cannot go into a record (not one canonical RLP item, or of the wrong type for its key).
    #[error("record entry {key:?}: {source}")]
    RecordEntry {
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        source: EnrError,
    },
    /// Our node record could not be built (too large with the configured entries), or not
    /// read or written in the data directory.
    #[error("node record: {0}")]
    Record(#[from] LocalRecordError),
    /// discv5 cannot announce our record (it does not fit in a packet).
    #[error("discv5: {0}")]
    Discv5(#[from] EncodeError),
    /// Port mapping cannot start with these ports ([`ServerConfig::nat`](super::ServerConfig)):
    /// a port below 1024, which is never asked of a router.
    #[cfg(feature = "nat")]
    #[error("port mapping: {0}")]
    Nat(#[from] ethp2p_nat::NatError),
}

impl StartError {
    /// Whose fault it is: the configuration's for anything that would fail again with the same
    /// settings; local for the operating system's refusals that may pass (a port in use, a
    /// file system error).
    pub fn blame(&self) -> Blame {
        use std::io::ErrorKind;
        match self {
            StartError::Listen { source, .. } => match source.kind() {
                // Not an address of this host, or a port the process may not bind.
                ErrorKind::AddrNotAvailable | ErrorKind::PermissionDenied => Blame::Configuration,
                _ => Blame::Local,
            },
            StartError::Record(LocalRecordError::Io { .. }) => Blame::Local,
            StartError::RecordEntry { .. } | StartError::Record(_) | StartError::Discv5(_) => {
                Blame::Configuration
            }
            #[cfg(feature = "nat")]
            StartError::Nat(error) => error.blame().into(),
        }
    }
}
