//! Node keys in go-ethereum's `nodekey` file format: the secp256k1 private key as 64 hex
//! characters, no newline, readable by the owner only. A node's identity (its enode id) is this
//! key's public half, so keeping the file keeps the identity across restarts.

use std::io;
use std::path::{Path, PathBuf};

use secp256k1::SecretKey;

/// Why a node key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// The text is not 64 hex characters (after an optional `0x` and surrounding whitespace).
    #[error("a node key is 64 hex characters")]
    NotHex,
    /// 32 bytes that are not a valid secp256k1 private key (zero, or not below the curve order).
    #[error("not a valid secp256k1 private key")]
    InvalidKey,
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file's content is not a node key.
    #[error("{}: {error}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it ([`NodeKeyError::NotHex`] or [`NodeKeyError::InvalidKey`]).
        error: Box<NodeKeyError>,
    },
}

/// Parses a hex private key (optional `0x`, surrounding whitespace ignored), as go-ethereum's
/// `--nodekeyhex`.
pub fn parse(hex_key: &str) -> Result<SecretKey, NodeKeyError> {
    let hex_key = hex_key.trim();
    let hex_key = hex_key.strip_prefix("0x").unwrap_or(hex_key);
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes).map_err(|_| NodeKeyError::NotHex)?;
    SecretKey::from_secret_bytes(bytes).map_err(|_| NodeKeyError::InvalidKey)
}

/// Reads a `nodekey` file.
pub fn load(path: &Path) -> Result<SecretKey, NodeKeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| NodeKeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|error| NodeKeyError::Invalid {
        path: path.to_owned(),
        error: Box::new(error),
    })
}

/// Writes a `nodekey` file as go-ethereum does: hex, no newline, mode 0600 on Unix.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), NodeKeyError> {
    let io_error = |source| NodeKeyError::Io {
        path: path.to_owned(),
        source,
    };
    let hex_key = hex::encode(key.to_secret_bytes());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_error)?;
    io::Write::write_all(&mut file, hex_key.as_bytes()).map_err(io_error)
}

/// The key in `path`, or a new one written there if the file does not exist (go-ethereum keeps
/// `<datadir>/geth/nodekey` this way).
pub fn load_or_create(path: &Path) -> Result<SecretKey, NodeKeyError> {
    match load(path) {
        Err(NodeKeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let key = crate::rlpx::random_secret_key(&mut rand::make_rng::<rand::rngs::StdRng>());
            save(path, &key)?;
            Ok(key)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_ethereum_writes_and_refuses_the_rest() {
        let hex_key = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
        let key = parse(hex_key).unwrap();
        assert_eq!(hex::encode(key.to_secret_bytes()), hex_key);
        assert_eq!(parse(&format!(" 0x{hex_key}\n")).unwrap(), key);
        assert!(matches!(parse("b71c"), Err(NodeKeyError::NotHex)));
        assert!(matches!(
            parse(&"0".repeat(64)),
            Err(NodeKeyError::InvalidKey)
        ));
    }

    #[test]
    fn load_or_create_keeps_the_identity() {
        let dir = std::env::temp_dir().join(format!(
            "ethp2p-nodekey-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodekey");
        let created = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), created);
        assert_eq!(std::fs::read_to_string(&path).unwrap().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(load(&path), Err(NodeKeyError::Invalid { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
