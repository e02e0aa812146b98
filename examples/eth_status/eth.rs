//! The `eth` protocol's Status handshake as a crawler does it
//! ([devp2p `caps/eth.md`](https://github.com/ethereum/devp2p/blob/master/caps/eth.md#status-0x00)):
//! wait for the remote's Status, answer with the same chain (network id, genesis, fork id,
//! head) so that it keeps us, and answer its requests with "nothing" afterwards. Shared by the
//! `eth_status` example and its go-ethereum test.

use std::time::Duration;

use ethp2p::{Protocol, ProtocolError, ProtocolPeer};
use ethp2p_discovery::fork_id::ForkId;
use rlp::{Rlp, RlpStream};
use tokio::sync::mpsc;

/// The eth versions offered, newest first, with their message-code counts (go-ethereum
/// `protocolLengths`): eth/69 (EIP-7642) and the three after it share one Status layout.
pub const VERSIONS: [(u32, u64); 4] = [(72, 22), (71, 20), (70, 18), (69, 18)];

const STATUS: u64 = 0x00;
const GET_BLOCK_HEADERS: u64 = 0x03;
const BLOCK_HEADERS: u64 = 0x04;
const GET_BLOCK_BODIES: u64 = 0x05;
const BLOCK_BODIES: u64 = 0x06;
const GET_POOLED_TRANSACTIONS: u64 = 0x09;
const POOLED_TRANSACTIONS: u64 = 0x0a;

/// go-ethereum drops a peer whose Status has not arrived 5 s after the protocol started.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// An eth/69+ Status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The negotiated eth version.
    pub version: u32,
    /// The chain's network id.
    pub network_id: u64,
    /// Hash of the genesis block.
    pub genesis: [u8; 32],
    /// Where the chain is in its fork schedule.
    pub fork_id: ForkId,
    /// The oldest block the node can serve.
    pub earliest_block: u64,
    /// Its head.
    pub latest_block: u64,
    /// The head's hash.
    pub latest_hash: [u8; 32],
}

impl Status {
    /// Reads a Status payload.
    pub fn decode(payload: &[u8]) -> Result<Status, rlp::DecoderError> {
        let list = Rlp::new(payload);
        if list.item_count()? != 7 {
            return Err(rlp::DecoderError::RlpIncorrectListLen);
        }
        let fork = list.at(3)?;
        if fork.item_count()? != 2 {
            return Err(rlp::DecoderError::RlpIncorrectListLen);
        }
        Ok(Status {
            version: list.val_at(0)?,
            network_id: list.val_at(1)?,
            genesis: fixed(&list.at(2)?)?,
            fork_id: ForkId {
                hash: fixed(&fork.at(0)?)?,
                next: fork.val_at(1)?,
            },
            earliest_block: list.val_at(4)?,
            latest_block: list.val_at(5)?,
            latest_hash: fixed(&list.at(6)?)?,
        })
    }

    /// The Status payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut stream = RlpStream::new_list(7);
        stream.append(&self.version);
        stream.append(&self.network_id);
        stream.append(&self.genesis.as_slice());
        stream.begin_list(2);
        stream.append(&self.fork_id.hash.as_slice());
        stream.append(&self.fork_id.next);
        stream.append(&self.earliest_block);
        stream.append(&self.latest_block);
        stream.append(&self.latest_hash.as_slice());
        stream.out().to_vec()
    }
}

fn fixed<const N: usize>(item: &Rlp<'_>) -> Result<[u8; N], rlp::DecoderError> {
    item.data()?
        .try_into()
        .map_err(|_| rlp::DecoderError::RlpInvalidLength)
}

/// What the protocol tells its user.
#[derive(Debug)]
pub enum EthEvent {
    /// A peer's Status, after ours was sent back.
    Status(ethp2p::PeerId, Status),
}

/// The eth protocol in every version of [`VERSIONS`], reporting to `events`.
pub fn protocols(events: mpsc::UnboundedSender<EthEvent>) -> Vec<Protocol> {
    VERSIONS
        .iter()
        .map(|&(version, length)| {
            let events = events.clone();
            Protocol::new("eth", version, length, move |peer| {
                run(peer, events.clone())
            })
        })
        .collect()
}

async fn run(
    mut peer: ProtocolPeer,
    events: mpsc::UnboundedSender<EthEvent>,
) -> Result<(), ProtocolError> {
    let first = tokio::time::timeout(STATUS_TIMEOUT, peer.recv())
        .await
        .map_err(|_| "no Status within 5 s")?
        .ok_or("peer left before its Status")?;
    if first.code != STATUS {
        return Err(format!("first eth message has code {:#x}, not Status", first.code).into());
    }
    let theirs = Status::decode(&first.payload)?;
    let version = peer.capability().version;
    if theirs.version != version {
        return Err(format!(
            "Status says eth/{}, eth/{version} was negotiated",
            theirs.version
        )
        .into());
    }
    // The same chain as theirs: a crawler has no chain of its own to announce.
    peer.send(STATUS, &theirs.encode()).await?;
    let _ = events.send(EthEvent::Status(peer.id(), theirs));
    while let Some(message) = peer.recv().await {
        let answer = match message.code {
            GET_BLOCK_HEADERS => BLOCK_HEADERS,
            GET_BLOCK_BODIES => BLOCK_BODIES,
            GET_POOLED_TRANSACTIONS => POOLED_TRANSACTIONS,
            // Announcements, broadcasts and range updates need no answer.
            _ => continue,
        };
        // [request-id, []]: none of what was asked for (eth/66 request ids).
        let request_id: u64 = Rlp::new(&message.payload).val_at(0)?;
        let mut stream = RlpStream::new_list(2);
        stream.append(&request_id);
        stream.begin_list(0);
        peer.send(answer, &stream.out()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trip() {
        let status = Status {
            version: 69,
            network_id: 1,
            genesis: [0xd4; 32],
            fork_id: ForkId {
                hash: [0xfc, 0x64, 0xec, 0x04],
                next: 1_150_000,
            },
            earliest_block: 0,
            latest_block: 22_000_000,
            latest_hash: [0x11; 32],
        };
        assert_eq!(Status::decode(&status.encode()), Ok(status));
        assert!(Status::decode(&[0xc0]).is_err());
    }
}
