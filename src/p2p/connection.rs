//! A minimal tokio driver for one p2p session over an established [`RlpxStream`]: exchanges
//! Hello, then sends and receives messages with snappy applied when both sides speak version 5
//! ([EIP-706](https://eips.ethereum.org/EIPS/eip-706)). It answers Ping itself and turns a
//! received Disconnect into [`ConnectionError::Disconnected`].

use tokio::io::{AsyncRead, AsyncWrite};

use super::ending::Ending;
use super::{
    DISCONNECT, DisconnectReason, HELLO, Hello, MAX_MESSAGE_SIZE, P2pError, PING, PING_PAYLOAD,
    PONG, PONG_PAYLOAD, Received, Violation, decode_disconnect_message, decode_payload_into,
    encode_message, rules, snappy_enabled, split_message_code,
};
use crate::rlpx::{PeerId, RlpxError, RlpxStream};

/// Why a p2p session ended or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The transport failed (bad MAC, oversized frame, socket closed or broken).
    #[error(transparent)]
    Rlpx(#[from] RlpxError),
    /// The remote sent a malformed base-protocol message.
    #[error(transparent)]
    Protocol(#[from] P2pError),
    /// The remote's first message was not Hello.
    #[error("expected Hello, got message code {0:#x}")]
    ExpectedHello(u64),
    /// The node id in Hello differs from the key the handshake authenticated.
    #[error("Hello node id {hello} does not match handshake identity {handshake}")]
    UnexpectedIdentity {
        /// Identity the RLPx handshake proved.
        handshake: PeerId,
        /// Identity claimed in Hello.
        hello: PeerId,
    },
    /// The remote sent a second Hello.
    #[error("second Hello")]
    UnexpectedHello,
    /// The remote sent Disconnect.
    #[error("remote disconnected: {0}")]
    Disconnected(DisconnectReason),
}

impl From<Violation> for ConnectionError {
    fn from(violation: Violation) -> Self {
        match violation {
            Violation::Malformed(error) => ConnectionError::Protocol(error),
            Violation::UnexpectedHello => ConnectionError::UnexpectedHello,
        }
    }
}

impl ConnectionError {
    /// The reason to send the remote when this error ends the session, if we should send one at
    /// all (not when the socket is gone or the remote already said goodbye). The peer runtime's
    /// [`EndCause::reason_to_send`](crate::peer::EndCause::reason_to_send) answers from the same
    /// map.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.ending().reason_to_send()
    }

    fn ending(&self) -> Ending {
        match self {
            ConnectionError::Rlpx(error) => Ending::of_transport(error),
            ConnectionError::Disconnected(_) => Ending::RemoteDisconnected,
            ConnectionError::UnexpectedIdentity { .. } => Ending::UnexpectedIdentity,
            ConnectionError::Protocol(_)
            | ConnectionError::ExpectedHello(_)
            | ConnectionError::UnexpectedHello => Ending::Breach,
        }
    }
}

/// A p2p session after the Hello exchange.
pub struct P2pConnection<S> {
    stream: RlpxStream<S>,
    remote_hello: Hello,
    snappy: bool,
    payload: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> P2pConnection<S> {
    /// Sends our Hello at once (some peers, like `devp2p rlpx ping`, wait for it before sending
    /// theirs), reads the remote's, and checks its node id against the handshake. On failure
    /// the remote is told why where the protocol allows.
    pub async fn handshake(
        mut stream: RlpxStream<S>,
        local: &Hello,
    ) -> Result<Self, ConnectionError> {
        let frame = stream.frame_buffer();
        encode_message(HELLO, &local.encode(), false, frame)?;
        stream.send_frame().await?;

        let result = read_hello(&mut stream).await;
        let remote_hello = match result {
            Ok(hello) => hello,
            Err(error) => {
                if let Some(reason) = error.disconnect_reason() {
                    // Best effort: the session is over whether or not the remote hears it.
                    let _ = send_disconnect(&mut stream, reason, false).await;
                }
                return Err(error);
            }
        };
        let snappy = snappy_enabled(local.protocol_version, remote_hello.protocol_version);
        Ok(P2pConnection {
            stream,
            remote_hello,
            snappy,
            payload: Vec::new(),
        })
    }

    /// The remote's Hello.
    pub fn remote_hello(&self) -> &Hello {
        &self.remote_hello
    }

    /// Whether messages after Hello are snappy-compressed.
    pub fn snappy(&self) -> bool {
        self.snappy
    }

    /// Sends one message with its wire code (base protocol codes or offset protocol codes).
    pub async fn send(&mut self, code: u64, payload: &[u8]) -> Result<(), ConnectionError> {
        encode_message(code, payload, self.snappy, self.stream.frame_buffer())?;
        Ok(self.stream.send_frame().await?)
    }

    /// Sends a Ping; the Pong comes back through [`P2pConnection::recv`].
    pub async fn ping(&mut self) -> Result<(), ConnectionError> {
        self.send(PING, PING_PAYLOAD).await
    }

    /// Receives the next Pong (with an empty payload) or subprotocol message (its wire code and
    /// decompressed payload), by the base protocol's [`rules`]: Ping is answered here, reserved
    /// codes are skipped, and Disconnect is returned as [`ConnectionError::Disconnected`].
    pub async fn recv(&mut self) -> Result<(u64, &[u8]), ConnectionError> {
        loop {
            let frame = self.stream.read_frame().await?;
            let (code, raw) = match rules::receive(frame, self.snappy)? {
                Received::Ping => {
                    self.send(PONG, PONG_PAYLOAD).await?;
                    continue;
                }
                Received::Reserved(_) => continue,
                Received::Disconnect(reason) => {
                    return Err(ConnectionError::Disconnected(reason?));
                }
                Received::Pong => return Ok((PONG, &[])),
                Received::Subprotocol { code, raw } => (code, raw),
            };
            decode_payload_into(raw, self.snappy, MAX_MESSAGE_SIZE, &mut self.payload)?;
            return Ok((code, &self.payload));
        }
    }

    /// Sends Disconnect with `reason` and closes our side of the connection.
    pub async fn disconnect(mut self, reason: DisconnectReason) -> Result<(), ConnectionError> {
        send_disconnect(&mut self.stream, reason, self.snappy).await?;
        self.stream.close().await;
        Ok(())
    }

    /// The stream, the remote's Hello and whether snappy is on, for a runtime that takes over.
    pub fn into_parts(self) -> (RlpxStream<S>, Hello, bool) {
        (self.stream, self.remote_hello, self.snappy)
    }
}

/// Refuses a connection right after the RLPx handshake, before Hello (nothing is compressed
/// yet), and closes it. Best effort: the remote may already be gone.
pub async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: RlpxStream<S>,
    reason: DisconnectReason,
) {
    if send_disconnect(&mut stream, reason, false).await.is_ok() {
        stream.close().await;
    }
}

async fn read_hello<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut RlpxStream<S>,
) -> Result<Hello, ConnectionError> {
    let handshake = stream.remote_id();
    let frame = stream.read_frame().await?;
    let (code, payload) = split_message_code(frame)?;
    match code {
        HELLO => {
            let hello = Hello::decode(payload)?;
            if hello.id != handshake.0 {
                return Err(ConnectionError::UnexpectedIdentity {
                    handshake,
                    hello: PeerId(hello.id),
                });
            }
            Ok(hello)
        }
        // Before Hello nothing is compressed.
        DISCONNECT => Err(ConnectionError::Disconnected(decode_disconnect_message(
            payload, false,
        )?)),
        other => Err(ConnectionError::ExpectedHello(other)),
    }
}

/// Disconnect goes out snappy-compressed once snappy is on: ethereumjs fails to read an
/// uncompressed one (it reports a subprotocol error instead of the reason).
async fn send_disconnect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut RlpxStream<S>,
    reason: DisconnectReason,
    snappy: bool,
) -> Result<(), ConnectionError> {
    encode_message(DISCONNECT, &reason.encode(), snappy, stream.frame_buffer())?;
    Ok(stream.send_frame().await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlpx::FrameError;

    #[test]
    fn every_error_sends_its_reason() {
        let table = [
            (ConnectionError::Rlpx(RlpxError::Closed), None),
            (
                ConnectionError::Rlpx(RlpxError::Io(std::io::ErrorKind::BrokenPipe)),
                None,
            ),
            (
                ConnectionError::Rlpx(RlpxError::Frame(FrameError::BodyMac)),
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (
                ConnectionError::Protocol(P2pError::EmptyMessage),
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (
                ConnectionError::ExpectedHello(0x10),
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (
                ConnectionError::UnexpectedIdentity {
                    handshake: PeerId([1; 64]),
                    hello: PeerId([2; 64]),
                },
                Some(DisconnectReason::UnexpectedIdentity),
            ),
            (
                ConnectionError::UnexpectedHello,
                Some(DisconnectReason::BreachOfProtocol),
            ),
            (
                ConnectionError::Disconnected(DisconnectReason::TooManyPeers),
                None,
            ),
        ];
        for (error, reason) in table {
            assert_eq!(error.disconnect_reason(), reason, "{error:?}");
        }
    }
}
