//! The one map from how a session ends to the Disconnect reason we send. Both runtimes' errors
//! ([`ConnectionError`](super::ConnectionError) before and during Hello, the peer's `EndCause`
//! after it) say which [`Ending`] theirs is, and [`Ending::reason_to_send`] decides the reason,
//! so one end never gets two answers
//! ([rlpx.md, Disconnect](https://github.com/ethereum/devp2p/blob/master/rlpx.md#disconnect-0x01)).

use super::DisconnectReason;
use crate::rlpx::RlpxError;

/// How a session ended, as far as the Disconnect we send depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The remote sent Disconnect: there is nothing to answer.
    RemoteDisconnected,
    /// The socket closed or broke: nothing can be sent.
    ConnectionLost,
    /// The remote does not take our data: a Disconnect would queue behind it.
    WriteStalled,
    /// The remote broke the protocol: a bad frame, a malformed or out-of-place message, a code
    /// no shared protocol owns.
    Breach,
    /// The remote's Hello names another node than the handshake proved.
    UnexpectedIdentity,
    /// Nothing arrived within the read timeout, not even a Pong.
    Silent,
    /// We ended it for this reason (a protocol handler returning: "client quitting").
    Chosen(DisconnectReason),
    /// A protocol handler failed.
    SubprotocolFailed,
}

impl Ending {
    /// The ending a transport failure means: the connection is lost, or the remote sent a bad
    /// frame.
    pub(crate) fn of_transport(error: &RlpxError) -> Ending {
        match error {
            RlpxError::Closed | RlpxError::Io(_) => Ending::ConnectionLost,
            _ => Ending::Breach,
        }
    }

    /// The reason we tell the remote, or `None` when we should not (or cannot) send one.
    pub(crate) fn reason_to_send(self) -> Option<DisconnectReason> {
        match self {
            Ending::RemoteDisconnected | Ending::ConnectionLost | Ending::WriteStalled => None,
            Ending::Breach => Some(DisconnectReason::BreachOfProtocol),
            Ending::UnexpectedIdentity => Some(DisconnectReason::UnexpectedIdentity),
            Ending::Silent => Some(DisconnectReason::PingTimeout),
            Ending::Chosen(reason) => Some(reason),
            Ending::SubprotocolFailed => Some(DisconnectReason::SubprotocolError),
        }
    }
}
