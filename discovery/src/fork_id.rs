//! EIP-2124 fork identifiers as nodes announce them in their records: the `eth` entry
//! ([EIP-2124](https://eips.ethereum.org/EIPS/eip-2124), go-ethereum `eth/protocols/eth`
//! `enrEntry`), `[[fork_hash, fork_next], ...]`, where later items are reserved and skipped.
//! A client keeps the nodes of its own chain by comparing their fork id with its own.

use crate::Enr;
use crate::rlp::{self, Kind};

/// The record key of the `eth` entry.
pub const ETH_KEY: &str = "eth";

/// A fork identifier: CRC32 of the genesis hash and the block numbers or timestamps of the
/// forks passed so far, and the next scheduled fork (0 if none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForkId {
    /// The checksum (`FORK_HASH`).
    pub hash: [u8; 4],
    /// The next fork's block number or timestamp (`FORK_NEXT`), 0 if none is scheduled.
    pub next: u64,
}

/// Why an `eth` entry could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid eth entry: {0}")]
pub struct ForkIdError(&'static str);

impl ForkId {
    /// Reads the raw RLP value of an `eth` entry.
    pub fn from_eth_entry(value: &[u8]) -> Result<ForkId, ForkIdError> {
        let entry = rlp::single_item(value).map_err(ForkIdError)?;
        if entry.kind != Kind::List {
            return Err(ForkIdError("not a list"));
        }
        // The fork id first; whatever follows is reserved for later versions (`rlp:"tail"`).
        let (fork, _) = rlp::split_item(entry.payload).map_err(ForkIdError)?;
        if fork.kind != Kind::List {
            return Err(ForkIdError("fork id is not a list"));
        }
        let (hash, rest) = rlp::split_item(fork.payload).map_err(ForkIdError)?;
        let (next, rest) = rlp::split_item(rest).map_err(ForkIdError)?;
        if !rest.is_empty() {
            return Err(ForkIdError("fork id has more than two items"));
        }
        let hash: [u8; 4] = match hash.kind {
            Kind::Bytes => hash.payload.try_into(),
            Kind::List => return Err(ForkIdError("fork hash is a list")),
        }
        .map_err(|_| ForkIdError("fork hash is not 4 bytes"))?;
        let next = rlp::uint(&next, 8).map_err(ForkIdError)?;
        Ok(ForkId { hash, next })
    }

    /// The raw RLP value of an `eth` entry holding this fork id, for
    /// [`EnrBuilder::insert_raw`](crate::EnrBuilder::insert_raw).
    pub fn eth_entry(&self) -> Vec<u8> {
        let mut fork = Vec::new();
        rlp::encode_bytes(&self.hash, &mut fork);
        rlp::encode_uint(self.next, &mut fork);
        let mut list = Vec::new();
        rlp::encode_list(&fork, &mut list);
        let mut entry = Vec::new();
        rlp::encode_list(&list, &mut entry);
        entry
    }
}

impl std::fmt::Display for ForkId {
    /// `0xfc64ec04 next 1150000`, as go-ethereum's logs show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{} next {}", hex::encode(self.hash), self.next)
    }
}

impl Enr {
    /// The fork id of the record's `eth` entry: `None` without one (the node does not say it
    /// serves an eth chain), an error if it is malformed.
    pub fn eth_fork_id(&self) -> Option<Result<ForkId, ForkIdError>> {
        self.get(ETH_KEY).map(ForkId::from_eth_entry)
    }
}

#[cfg(test)]
mod tests {
    use secp256k1::SecretKey;

    use super::*;

    /// Mainnet's genesis fork id (EIP-2124 test cases): 0xfc64ec04, next Homestead.
    const MAINNET_GENESIS: ForkId = ForkId {
        hash: [0xfc, 0x64, 0xec, 0x04],
        next: 1_150_000,
    };

    #[test]
    fn eth_entry_layout_and_round_trip() {
        let entry = MAINNET_GENESIS.eth_entry();
        assert_eq!(hex::encode(&entry), "cac984fc64ec0483118c30");
        assert_eq!(ForkId::from_eth_entry(&entry), Ok(MAINNET_GENESIS));
        // Reserved items after the fork id are skipped.
        let with_tail = hex::decode("cbc984fc64ec0483118c3001").unwrap();
        assert_eq!(ForkId::from_eth_entry(&with_tail), Ok(MAINNET_GENESIS));
        assert_eq!(MAINNET_GENESIS.to_string(), "0xfc64ec04 next 1150000");
    }

    #[test]
    fn malformed_entries_are_errors() {
        for bad in [
            "c0",
            "c1c0",
            "c6c584fc64ec04",
            "c7c683fc64ec80",
            "cbca84fc64ec0483118c3001",
            "84fc64ec04",
        ] {
            let bytes = hex::decode(bad).unwrap();
            assert!(ForkId::from_eth_entry(&bytes).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_from_a_record() {
        let key = SecretKey::from_secret_bytes([3; 32]).unwrap();
        let plain = Enr::builder().build(&key).unwrap();
        assert_eq!(plain.eth_fork_id(), None);
        let mut builder = Enr::builder();
        builder
            .insert_raw(ETH_KEY, MAINNET_GENESIS.eth_entry())
            .unwrap();
        let record = builder.build(&key).unwrap();
        assert_eq!(record.eth_fork_id(), Some(Ok(MAINNET_GENESIS)));
    }
}
