//! Who is to blame for an error, the question a caller acts on: a remote's fault is logged and
//! the peer (or gateway) dropped or retried later; a local one is retried or reported; a
//! configuration error is fixed by whoever wrote the configuration, and retrying cannot help.
//! DESIGN.md, "Errors: typed by blame".

/// Whose fault an error is; see [`StartError::blame`](crate::server::StartError::blame) and
/// [`SetupError::blame`](crate::server::SetupError::blame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The other side: it sent something invalid, refused, went away or did not answer in time.
    Remote,
    /// Our own side at run time: a limit of ours, the operating system (a socket, a file),
    /// shutting down.
    Local,
    /// What the caller configured: a node id that is not a key, a record entry that is not
    /// RLP, a port no router is asked to map.
    Configuration,
}

impl std::fmt::Display for Blame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Blame::Remote => "remote",
            Blame::Local => "local",
            Blame::Configuration => "configuration",
        })
    }
}

/// The nat crate's blame (of a gateway error) in these terms.
#[cfg(feature = "nat")]
impl From<ethp2p_nat::Blame> for Blame {
    fn from(blame: ethp2p_nat::Blame) -> Self {
        match blame {
            ethp2p_nat::Blame::Remote => Blame::Remote,
            ethp2p_nat::Blame::Local => Blame::Local,
            ethp2p_nat::Blame::Configuration => Blame::Configuration,
        }
    }
}
