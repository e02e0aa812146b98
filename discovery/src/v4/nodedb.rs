//! The node database on disk: nodes that recently answered our Ping, with the unix time of that
//! PONG, one per line (`enode://... <unix seconds>`). Loaded at start as seeds (recent ones keep
//! their endpoint proof), saved periodically and at shutdown.

use std::io::Write;
use std::path::Path;

use super::packet::NodeRecord;
use crate::Enode;

/// Most nodes kept: enough to rebuild a table, small enough to load instantly.
pub const MAX_SEEDS: usize = 1000;

/// Reads seeds; unreadable lines are skipped (a damaged file only loses those nodes).
pub fn load(path: &Path) -> std::io::Result<Vec<(NodeRecord, u64)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let seeds = text
        .lines()
        .filter_map(|line| {
            let (url, pong) = line.trim().split_once(' ')?;
            let enode: Enode = url.parse().ok()?;
            Some((NodeRecord::from(&enode), pong.trim().parse().ok()?))
        })
        .take(MAX_SEEDS)
        .collect();
    Ok(seeds)
}

/// Writes seeds atomically (a temporary file renamed over the old one), newest first.
pub fn save(path: &Path, seeds: &[(NodeRecord, u64)]) -> std::io::Result<()> {
    let mut sorted: Vec<&(NodeRecord, u64)> = seeds.iter().collect();
    sorted.sort_by_key(|(_, pong)| std::cmp::Reverse(*pong));
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    for (record, pong) in sorted.into_iter().take(MAX_SEEDS) {
        writeln!(file, "{} {pong}", Enode::from(record))?;
    }
    file.sync_all()?;
    std::fs::rename(temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;
    use crate::v4::packet::Endpoint;

    #[test]
    fn round_trip_skips_damage() {
        let dir = std::env::temp_dir().join(format!("ethp2p-nodedb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes");
        let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
        let record = NodeRecord {
            endpoint: Endpoint {
                ip: "10.0.0.1".parse().unwrap(),
                udp_port: 30301,
                tcp_port: 30303,
            },
            id: PeerId::from_secret_key(&key),
        };
        save(&path, &[(record, 1_700_000_000)]).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("garbage line\n");
        std::fs::write(&path, text).unwrap();
        assert_eq!(load(&path).unwrap(), vec![(record, 1_700_000_000)]);
        assert_eq!(load(&dir.join("missing")).unwrap(), vec![]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
