//! Node keys for the command line: go-ethereum's `nodekey` format, read and written by the
//! library ([`ethp2p::nodekey`]), with errors as the messages the commands print.

use std::path::Path;

use ethp2p::nodekey;
use secp256k1::SecretKey;

/// Parses a hex private key (`--nodekeyhex`).
pub fn parse_key(hex_key: &str) -> Result<SecretKey, String> {
    nodekey::parse(hex_key).map_err(|e| e.to_string())
}

/// Reads a `nodekey` file.
pub fn load(path: &Path) -> Result<SecretKey, String> {
    nodekey::load(path).map_err(|e| e.to_string())
}

/// Writes a `nodekey` file.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), String> {
    nodekey::save(path, key).map_err(|e| e.to_string())
}
