//! Why a peer session ended, and which Disconnect reason each cause sends (decided by the
//! base protocol's one map, `p2p::ending`, which the Hello exchange's errors use too).

use std::fmt;

use crate::p2p::ending::Ending;
use crate::p2p::{Capability, DisconnectReason, P2pError, Violation};
use crate::rlpx::RlpxError;

/// What ended a peer session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndCause {
    /// The remote sent Disconnect (`None` if its reason could not be decoded).
    RemoteDisconnect(Option<DisconnectReason>),
    /// We asked for it: `remove_peer`, shutdown, or a server rule.
    Requested(DisconnectReason),
    /// A protocol handler returned.
    ProtocolReturned(Capability),
    /// A protocol handler failed.
    ProtocolFailed {
        /// The protocol.
        protocol: Capability,
        /// Its error, as text.
        error: String,
    },
    /// The remote sent a malformed message.
    BadMessage(P2pError),
    /// The remote sent a message code no matched protocol owns.
    UnknownCode(u64),
    /// The remote sent a second Hello.
    UnexpectedHello,
    /// Nothing arrived within the read timeout (not even a Pong to our Pings).
    ReadTimeout,
    /// The remote did not take our data within the write timeout.
    WriteTimeout,
    /// The transport failed: bad MAC, oversized frame, closed or broken socket.
    Transport(RlpxError),
}

impl From<Violation> for EndCause {
    fn from(violation: Violation) -> Self {
        match violation {
            Violation::Malformed(error) => EndCause::BadMessage(error),
            Violation::UnexpectedHello => EndCause::UnexpectedHello,
        }
    }
}

impl EndCause {
    /// The reason we tell the remote, or `None` when we should not (or cannot) send one.
    pub fn reason_to_send(&self) -> Option<DisconnectReason> {
        self.ending().reason_to_send()
    }

    fn ending(&self) -> Ending {
        match self {
            EndCause::RemoteDisconnect(_) => Ending::RemoteDisconnected,
            EndCause::Requested(reason) => Ending::Chosen(*reason),
            EndCause::ProtocolReturned(_) => Ending::Chosen(DisconnectReason::ClientQuitting),
            EndCause::ProtocolFailed { .. } => Ending::SubprotocolFailed,
            EndCause::BadMessage(_) | EndCause::UnknownCode(_) | EndCause::UnexpectedHello => {
                Ending::Breach
            }
            EndCause::ReadTimeout => Ending::Silent,
            EndCause::WriteTimeout => Ending::WriteStalled,
            EndCause::Transport(error) => Ending::of_transport(error),
        }
    }

    /// Whether the session ended on a fault (of the remote or the connection) rather than by
    /// someone's choice.
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            EndCause::RemoteDisconnect(_) | EndCause::Requested(_) | EndCause::ProtocolReturned(_)
        )
    }

    /// Whether the remote ended it (it disconnected or went away) rather than us.
    pub fn initiated_by_remote(&self) -> bool {
        matches!(
            self.ending(),
            Ending::RemoteDisconnected | Ending::ConnectionLost
        )
    }
}

impl fmt::Display for EndCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndCause::RemoteDisconnect(Some(reason)) => write!(f, "remote disconnected: {reason}"),
            EndCause::RemoteDisconnect(None) => {
                write!(f, "remote disconnected (undecodable reason)")
            }
            EndCause::Requested(reason) => write!(f, "disconnect requested: {reason}"),
            EndCause::ProtocolReturned(protocol) => write!(f, "protocol {protocol} returned"),
            EndCause::ProtocolFailed { protocol, error } => {
                write!(f, "protocol {protocol} failed: {error}")
            }
            EndCause::BadMessage(error) => write!(f, "malformed message: {error}"),
            EndCause::UnknownCode(code) => write!(f, "message code {code:#x} matches no protocol"),
            EndCause::UnexpectedHello => write!(f, "second Hello"),
            EndCause::ReadTimeout => write!(f, "read timeout"),
            EndCause::WriteTimeout => write!(f, "write timeout"),
            EndCause::Transport(error) => write!(f, "{error}"),
        }
    }
}

/// How a peer session ended: the cause, and the reasons that crossed the wire each way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEnd {
    /// What ended it.
    pub cause: EndCause,
    /// The Disconnect reason we sent, if we sent one.
    pub sent: Option<DisconnectReason>,
    /// The Disconnect reason the remote sent, if it sent one.
    pub received: Option<DisconnectReason>,
}

impl PeerEnd {
    /// Whether the remote ended the session.
    pub fn initiated_by_remote(&self) -> bool {
        self.cause.initiated_by_remote()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlpx::FrameError;

    #[test]
    fn every_cause_sends_the_reason_the_manual_lists() {
        let eth = Capability::new("eth", 68);
        let table = [
            (EndCause::RemoteDisconnect(None), None),
            (
                EndCause::Requested(DisconnectReason::TooManyPeers),
                Some(DisconnectReason::TooManyPeers),
            ),
            (
                EndCause::ProtocolReturned(eth.clone()),
                Some(DisconnectReason::ClientQuitting),
            ),
            (
                EndCause::ProtocolFailed {
                    protocol: eth,
                    error: "bad block".into(),
                },
                Some(DisconnectReason::SubprotocolError),
            ),
            (
                EndCause::BadMessage(P2pError::EmptyMessage),
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (
                EndCause::UnknownCode(0x99),
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (
                EndCause::UnexpectedHello,
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (EndCause::ReadTimeout, Some(DisconnectReason::PingTimeout)),
            (EndCause::WriteTimeout, None),
            (EndCause::Transport(RlpxError::Closed), None),
            (
                EndCause::Transport(RlpxError::Io(std::io::ErrorKind::ConnectionReset)),
                None,
            ),
            (
                EndCause::Transport(RlpxError::Frame(FrameError::HeaderMac)),
                Some(DisconnectReason::BreachOfProtocol),
            ),
        ];
        for (cause, reason) in table {
            assert_eq!(cause.reason_to_send(), reason, "{cause:?}");
        }
    }
}
