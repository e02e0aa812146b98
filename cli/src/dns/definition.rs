//! go-ethereum's tree definition directory (`cmd/devp2p/dnscmd.go`), so that trees move between
//! `devp2p dns` and `ethp2p dns`:
//!
//! - `enrtree-info.json`: `{"url", "seq", "signature", "links", "lastModified"}`, where `url`
//!   and `signature` are written by `sign`;
//! - `nodes.json`: an object of node id (hex) to `{"seq", "record"}`; go-ethereum's crawler
//!   adds liveness fields (`score`, `firstResponse`, ...), which are read past.
//!
//! Both files are written as go-ethereum writes them: indented by four spaces, keys sorted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ethp2p_discovery::Enr;
use ethp2p_discovery::dns::LinkEntry;
use serde::{Deserialize, Serialize};

const INFO_FILE: &str = "enrtree-info.json";
const NODES_FILE: &str = "nodes.json";

/// `enrtree-info.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TreeInfo {
    /// The signed tree's `enrtree://` URL; empty until signed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The sequence number of the signed root.
    #[serde(default)]
    pub seq: u64,
    /// The root signature (unpadded base64url); empty until signed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
    /// `enrtree://` URLs of linked trees (`null` reads as none, as in go-ethereum).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub links: Vec<String>,
    /// When the file was last written (RFC 3339); informational.
    #[serde(rename = "lastModified", default)]
    pub last_modified: String,
}

/// One entry of `nodes.json`.
#[derive(Debug, Serialize, Deserialize)]
struct NodeJson {
    seq: u64,
    record: String,
}

/// A tree definition: the info file and the node records, sorted by node id.
#[derive(Debug)]
pub struct TreeDefinition {
    /// `enrtree-info.json` (default when the file does not exist).
    pub info: TreeInfo,
    /// The records of `nodes.json`.
    pub nodes: Vec<Enr>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(INFO_FILE), dir.join(NODES_FILE))
}

impl TreeDefinition {
    /// Reads a definition directory, checking what go-ethereum checks: links are `enrtree://`
    /// URLs, each record sits under its own node id with its own seq.
    pub fn load(dir: &Path) -> Result<TreeDefinition, String> {
        let (info_file, nodes_file) = files(dir);
        let info: TreeInfo = match std::fs::read_to_string(&info_file) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", info_file.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TreeInfo::default(),
            Err(e) => return Err(format!("cannot read {}: {e}", info_file.display())),
        };
        for link in &info.links {
            link.parse::<LinkEntry>()
                .map_err(|e| format!("{}: invalid link {link:?}: {e}", info_file.display()))?;
        }
        let text = std::fs::read_to_string(&nodes_file)
            .map_err(|e| format!("cannot read {}: {e}", nodes_file.display()))?;
        let entries: BTreeMap<String, NodeJson> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", nodes_file.display()))?;
        let mut nodes = Vec::with_capacity(entries.len());
        for (id, entry) in entries {
            let bad = |why: String| format!("{}: node {id}: {why}", nodes_file.display());
            let record: Enr = entry.record.parse().map_err(|e| bad(format!("{e}")))?;
            if record.id().to_string() != id.trim_start_matches("0x").to_ascii_lowercase() {
                return Err(bad(format!("the record's id is {}", record.id())));
            }
            if record.seq() != entry.seq {
                return Err(bad(format!(
                    "'seq' does not match seq {} from record",
                    record.seq()
                )));
            }
            nodes.push(record);
        }
        nodes.sort_by_key(Enr::id);
        Ok(TreeDefinition { info, nodes })
    }

    /// The links as URLs (checked by [`load`](Self::load)).
    pub fn links(&self) -> Vec<LinkEntry> {
        self.info
            .links
            .iter()
            .filter_map(|link| link.parse().ok())
            .collect()
    }

    /// Writes `enrtree-info.json`, stamped with the current time.
    pub fn save_info(&mut self, dir: &Path) -> Result<(), String> {
        self.info.last_modified = rfc3339(SystemTime::now());
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write_json(&files(dir).0, &self.info)
    }

    /// Writes `nodes.json`.
    pub fn save_nodes(&self, dir: &Path) -> Result<(), String> {
        let entries: BTreeMap<String, NodeJson> = self
            .nodes
            .iter()
            .map(|record| {
                let entry = NodeJson {
                    seq: record.seq(),
                    record: record.to_string(),
                };
                (record.id().to_string(), entry)
            })
            .collect();
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write_json(&files(dir).1, &entries)
    }
}

/// `value` as go-ethereum's `json.MarshalIndent(v, "", "    ")` writes it.
pub fn to_go_json(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("plain data serializes");
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), String> {
    std::fs::write(path, to_go_json(value))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `time` in UTC as RFC 3339 with seconds (`2026-12-02T15:04:05Z`), which Go's `time.Time`
/// reads back.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rfc3339_dates() {
        let at = |secs| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_224_445), "2026-12-02T15:14:05Z");
    }

    #[test]
    fn nodes_json_is_checked_as_go_ethereum_checks_it() {
        let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
        let record = Enr::builder().seq(4).build(&key).unwrap();
        let dir = std::env::temp_dir().join(format!("ethp2p-definition-{}", std::process::id()));
        let write = |id: String, seq: u64| {
            std::fs::create_dir_all(&dir).unwrap();
            let entry =
                serde_json::json!({ id: { "seq": seq, "record": record.to_string(), "score": 3 } });
            std::fs::write(dir.join(NODES_FILE), entry.to_string()).unwrap();
        };
        write(record.id().to_string(), 4);
        let loaded = TreeDefinition::load(&dir).unwrap();
        assert_eq!(loaded.nodes, std::slice::from_ref(&record));
        assert_eq!(loaded.info.seq, 0, "no info file: an unsigned tree");

        write(record.id().to_string(), 3);
        let error = TreeDefinition::load(&dir).unwrap_err();
        assert!(error.contains("'seq' does not match seq 4"), "{error}");
        write("00".repeat(32), 4);
        let error = TreeDefinition::load(&dir).unwrap_err();
        assert!(error.contains("the record's id is"), "{error}");
        std::fs::write(dir.join(INFO_FILE), r#"{"links": ["enrtree://nope"]}"#).unwrap();
        let error = TreeDefinition::load(&dir).unwrap_err();
        assert!(error.contains("invalid link"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn go_json_layout() {
        let info = TreeInfo {
            seq: 2,
            links: vec![],
            last_modified: "1970-01-01T00:00:00Z".into(),
            ..TreeInfo::default()
        };
        assert_eq!(
            to_go_json(&info),
            "{\n    \"seq\": 2,\n    \"links\": [],\n    \"lastModified\": \"1970-01-01T00:00:00Z\"\n}"
        );
        let read: TreeInfo = serde_json::from_str(r#"{"seq": 1, "links": null}"#).unwrap();
        assert!(read.links.is_empty());
    }
}
