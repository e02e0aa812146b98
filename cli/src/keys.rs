//! Node keys in go-ethereum's `nodekey` format: the private key as 64 hex characters.

use std::path::Path;

use secp256k1::SecretKey;

/// Parses a hex private key (optional `0x`, surrounding whitespace ignored).
pub fn parse_key(hex_key: &str) -> Result<SecretKey, String> {
    let hex_key = hex_key.trim();
    let hex_key = hex_key.strip_prefix("0x").unwrap_or(hex_key);
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes)
        .map_err(|_| "a node key is 64 hex characters".to_string())?;
    SecretKey::from_secret_bytes(bytes).map_err(|_| "not a valid secp256k1 private key".to_string())
}

/// Reads a `nodekey` file.
pub fn load(path: &Path) -> Result<SecretKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_key(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a `nodekey` file as go-ethereum does: hex, no newline, readable by the owner only.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), String> {
    let hex_key = hex::encode(key.to_secret_bytes());
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        file.write_all(hex_key.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
    #[cfg(not(unix))]
    std::fs::write(path, hex_key).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
