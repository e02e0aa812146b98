//! The node database on disk: nodes that recently answered us, one per line with the unix time
//! they were last known alive (`enode://... <unix seconds>` for discv4, `enr:... <unix seconds>`
//! for discv5, one file each). Loaded at start as seeds (recent discv4 ones keep their endpoint
//! proof), saved periodically and at shutdown.

use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use crate::{Enode, Enr};

/// Most nodes kept: enough to rebuild a table, small enough to load instantly.
pub const MAX_SEEDS: usize = 1000;

/// Reads discv4 seeds; unreadable lines are skipped (a damaged file only loses those nodes).
pub fn load(path: &Path) -> std::io::Result<Vec<(Enode, u64)>> {
    read_lines::<Enode>(path)
}

/// Writes discv4 seeds atomically (a temporary file renamed over the old one), newest first.
pub fn save(path: &Path, seeds: &[(Enode, u64)]) -> std::io::Result<()> {
    write_lines(path, seeds.iter().copied())
}

/// Reads discv5 seeds (signed node records); unreadable lines are skipped.
pub fn load_records(path: &Path) -> std::io::Result<Vec<(Enr, u64)>> {
    read_lines(path)
}

/// Writes discv5 seeds atomically, newest first.
pub fn save_records(path: &Path, seeds: &[(Enr, u64)]) -> std::io::Result<()> {
    write_lines(path, seeds.iter().map(|(record, seen)| (record, *seen)))
}

/// `<node> <unix seconds>` lines, at most [`MAX_SEEDS`]; a missing file holds none.
fn read_lines<T: FromStr>(path: &Path) -> std::io::Result<Vec<(T, u64)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let seeds = text
        .lines()
        .filter_map(|line| {
            let (node, seen) = line.trim().split_once(' ')?;
            Some((node.parse().ok()?, seen.trim().parse().ok()?))
        })
        .take(MAX_SEEDS)
        .collect();
    Ok(seeds)
}

fn write_lines<T: Display>(
    path: &Path,
    seeds: impl Iterator<Item = (T, u64)>,
) -> std::io::Result<()> {
    let mut sorted: Vec<(T, u64)> = seeds.collect();
    sorted.sort_by_key(|(_, seen)| std::cmp::Reverse(*seen));
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    for (node, seen) in sorted.into_iter().take(MAX_SEEDS) {
        writeln!(file, "{node} {seen}")?;
    }
    file.sync_all()?;
    std::fs::rename(temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;

    fn temporary_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ethp2p-nodedb-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn append_garbage(path: &Path) {
        let mut text = std::fs::read_to_string(path).unwrap();
        text.push_str("garbage line\n");
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn round_trip_skips_damage() {
        let dir = temporary_dir("v4");
        let path = dir.join("nodes");
        let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
        let record = Enode {
            id: PeerId::from_secret_key(&key),
            ip: "10.0.0.1".parse().unwrap(),
            tcp_port: 30303,
            udp_port: 30301,
        };
        save(&path, &[(record, 1_700_000_000)]).unwrap();
        append_garbage(&path);
        assert_eq!(load(&path).unwrap(), vec![(record, 1_700_000_000)]);
        assert_eq!(load(&dir.join("missing")).unwrap(), vec![]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn records_round_trip_newest_first() {
        let dir = temporary_dir("v5");
        let path = dir.join("nodes-v5");
        let record = |seed: u8, port: u16| {
            let key = secp256k1::SecretKey::from_secret_bytes([seed; 32]).unwrap();
            Enr::builder()
                .ip4("10.0.0.1".parse().unwrap())
                .udp4(port)
                .build(&key)
                .unwrap()
        };
        let (old, new) = (record(1, 30301), record(2, 30302));
        save_records(&path, &[(old.clone(), 100), (new.clone(), 200)]).unwrap();
        append_garbage(&path);
        assert_eq!(load_records(&path).unwrap(), vec![(new, 200), (old, 100)]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
