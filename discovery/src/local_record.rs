//! The node's own ENR, persisted so its sequence number never goes backwards across restarts:
//! peers ignore a record whose sequence number is not higher than one they have seen.

use std::path::Path;

use secp256k1::SecretKey;

use crate::enr::{Enr, EnrBuilder, EnrError};

/// Why the local record could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum LocalRecordError {
    /// Building or signing the record failed.
    #[error(transparent)]
    Enr(#[from] EnrError),
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Builds the record `fill` describes. If `path` holds an earlier record of the same key, the new
/// one keeps its sequence number when nothing changed and takes the next one otherwise; the
/// result is written back to `path`.
pub fn load_or_create(
    path: &Path,
    key: &SecretKey,
    fill: impl Fn(&mut EnrBuilder),
) -> Result<Enr, LocalRecordError> {
    let io = |source| LocalRecordError::Io {
        path: path.display().to_string(),
        source,
    };
    let stored: Option<Enr> = match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|enr: &Enr| enr.public_key() == key.public_key()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(io(error)),
    };
    let build = |seq: u64| {
        let mut builder = Enr::builder();
        builder.seq(seq);
        fill(&mut builder);
        builder.build(key)
    };
    let record = match stored {
        Some(stored) => {
            let same = build(stored.seq())?;
            if same == stored {
                same
            } else {
                build(stored.seq() + 1)?
            }
        }
        None => build(1)?,
    };
    std::fs::write(path, record.to_string()).map_err(io)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn sequence_survives_restarts_and_bumps_on_change() {
        let dir = std::env::temp_dir().join(format!("ethp2p-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("enr");
        let key = SecretKey::from_secret_bytes([9; 32]).unwrap();
        let at = |port: u16| {
            move |b: &mut EnrBuilder| {
                b.ip4(Ipv4Addr::LOCALHOST).udp4(port).tcp4(port);
            }
        };
        assert_eq!(load_or_create(&path, &key, at(30303)).unwrap().seq(), 1);
        assert_eq!(
            load_or_create(&path, &key, at(30303)).unwrap().seq(),
            1,
            "unchanged: same seq"
        );
        assert_eq!(
            load_or_create(&path, &key, at(30304)).unwrap().seq(),
            2,
            "changed: bumped"
        );
        let other = SecretKey::from_secret_bytes([10; 32]).unwrap();
        assert_eq!(
            load_or_create(&path, &other, at(30304)).unwrap().seq(),
            1,
            "another key starts over"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
