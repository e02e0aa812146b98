//! Capabilities (`name/version` sub-protocols) and the message-id space they share.
//!
//! This module is the one place the message-id offset arithmetic lives: capability
//! matching assigns each shared capability a contiguous range of wire ids after the
//! base protocol's reserved ids, and [`route`] / [`SharedCapability`] translate between wire
//! ids and protocol-relative ids.
//!
//! Spec: [rlpx.md, Message ID-based Multiplexing](https://github.com/ethereum/devp2p/blob/master/rlpx.md#message-id-based-multiplexing).

use std::fmt;
use std::str::FromStr;

use super::{BASE_PROTOCOL_LENGTH, P2pError};

/// Longest capability name we accept.
///
/// rlpx.md says names are at most eight ASCII characters; we allow up to 32 to be lenient
/// with implementations that stretch the rule, while still bounding the work per Hello.
pub const MAX_CAPABILITY_NAME_LEN: usize = 32;

/// A capability as announced in Hello: a sub-protocol name and version, e.g. `eth/68`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// Protocol name, case-sensitive (e.g. `eth`, `snap`).
    pub name: String,
    /// Protocol version.
    pub version: u32,
}

impl Capability {
    /// Creates a capability; no validation (use [`FromStr`] for untrusted text).
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Capability {
            name: name.into(),
            version,
        }
    }
}

/// Validates a capability name received from the network or parsed from text.
///
/// Accepted: 1..=[`MAX_CAPABILITY_NAME_LEN`] bytes of printable ASCII (0x21..=0x7e). Empty
/// names, whitespace, control characters and non-ASCII bytes are rejected because they can
/// never match a local protocol and only make logs misleading.
pub(crate) fn validate_name(name: &[u8]) -> Result<&str, P2pError> {
    if name.is_empty()
        || name.len() > MAX_CAPABILITY_NAME_LEN
        || !name.iter().all(u8::is_ascii_graphic)
    {
        return Err(P2pError::InvalidCapabilityName);
    }
    std::str::from_utf8(name).map_err(|_| P2pError::InvalidCapabilityName)
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

impl FromStr for Capability {
    type Err = P2pError;

    /// Parses `name/version`, e.g. `"eth/68"`. The version is decimal digits only; the split
    /// is at the last `/`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, version) = s
            .rsplit_once('/')
            .ok_or(P2pError::InvalidCapabilityVersion)?;
        let name = validate_name(name.as_bytes())?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(P2pError::InvalidCapabilityVersion);
        }
        let version = version
            .parse()
            .map_err(|_| P2pError::InvalidCapabilityVersion)?;
        Ok(Capability::new(name, version))
    }
}

/// A sub-protocol this node implements, with the number of message ids it uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProtocolSpec {
    /// Protocol name, case-sensitive.
    pub name: String,
    /// Protocol version.
    pub version: u32,
    /// Number of message ids the protocol occupies (e.g. 17 for eth/68).
    pub length: u64,
}

impl ProtocolSpec {
    /// Creates a protocol spec.
    pub fn new(name: impl Into<String>, version: u32, length: u64) -> Self {
        ProtocolSpec {
            name: name.into(),
            version,
            length,
        }
    }

    /// The capability to announce in Hello for this protocol.
    pub fn capability(&self) -> Capability {
        Capability::new(self.name.clone(), self.version)
    }
}

/// A capability both peers support, with the wire message ids assigned to it.
///
/// Wire ids `offset..offset + length` belong to this capability; protocol-relative id `c`
/// travels as `offset + c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedCapability {
    /// Protocol name.
    pub name: String,
    /// Negotiated (highest shared) version.
    pub version: u32,
    /// First wire message id of this capability.
    pub offset: u64,
    /// Number of message ids it occupies.
    pub length: u64,
}

impl SharedCapability {
    /// Whether `wire_code` falls in this capability's id range.
    pub fn contains(&self, wire_code: u64) -> bool {
        self.from_wire(wire_code).is_some()
    }

    /// Wire id for protocol-relative id `code`; `None` if `code >= length`.
    pub fn to_wire(&self, code: u64) -> Option<u64> {
        if code < self.length {
            self.offset.checked_add(code)
        } else {
            None
        }
    }

    /// Protocol-relative id for `wire_code`; `None` if it belongs to another capability.
    pub fn from_wire(&self, wire_code: u64) -> Option<u64> {
        wire_code
            .checked_sub(self.offset)
            .filter(|&code| code < self.length)
    }

    /// The capability (name and negotiated version) without the id range.
    pub fn capability(&self) -> Capability {
        Capability::new(self.name.clone(), self.version)
    }
}

/// Computes the capabilities shared with a peer and lays out their message-id space.
///
/// Follows rlpx.md and go-ethereum's `matchProtocols`:
/// - a capability is shared if the remote announces exactly a local `(name, version)`
///   (names are case-sensitive); capabilities the other side lacks are ignored;
/// - if several versions of one name are shared, only the numerically highest is used;
/// - shared capabilities are ordered by name (byte-wise, i.e. alphabetically for ASCII) and
///   given consecutive id ranges starting at [`BASE_PROTOCOL_LENGTH`] (0x10), each
///   [`ProtocolSpec::length`] ids long.
///
/// Duplicates are harmless: a repeated remote capability counts once, and if `local` lists
/// the same `(name, version)` twice the first entry's `length` is used. Should the id space
/// overflow `u64` (only possible with absurd local lengths), the remaining capabilities are
/// dropped rather than wrapped. Cost is `O(local.len() * remote.len())`; the remote list is
/// bounded by [`MAX_CAPABILITIES`](super::MAX_CAPABILITIES) when it comes from
/// [`Hello::decode`](super::Hello::decode).
///
/// # Example
///
/// ```
/// use ethp2p::p2p::{Capability, ProtocolSpec, match_capabilities, route};
///
/// let local = [ProtocolSpec::new("eth", 68, 17), ProtocolSpec::new("snap", 1, 8)];
/// let remote = [Capability::new("snap", 1), Capability::new("eth", 68)];
/// let shared = match_capabilities(&local, &remote);
///
/// assert_eq!((shared[0].name.as_str(), shared[0].offset), ("eth", 0x10));
/// assert_eq!((shared[1].name.as_str(), shared[1].offset), ("snap", 0x21));
/// // Wire id 0x23 is snap message 0x02.
/// assert_eq!(route(&shared, 0x23), Some((1, 0x02)));
/// ```
pub fn match_capabilities(local: &[ProtocolSpec], remote: &[Capability]) -> Vec<SharedCapability> {
    let mut matched: Vec<&ProtocolSpec> = remote
        .iter()
        .filter_map(|cap| {
            local
                .iter()
                .find(|spec| spec.name == cap.name && spec.version == cap.version)
        })
        .collect();
    matched.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));

    let mut shared = Vec::new();
    let mut offset = BASE_PROTOCOL_LENGTH;
    for (i, spec) in matched.iter().enumerate() {
        // Sorted by (name, version): skip all but the last (highest) version of each name.
        if matched
            .get(i + 1)
            .is_some_and(|next| next.name == spec.name)
        {
            continue;
        }
        let Some(end) = offset.checked_add(spec.length) else {
            break;
        };
        shared.push(SharedCapability {
            name: spec.name.clone(),
            version: spec.version,
            offset,
            length: spec.length,
        });
        offset = end;
    }
    shared
}

/// Finds the shared capability owning `wire_code`: returns its index in `shared` and the
/// protocol-relative message id, or `None` if no capability claims the id (a base-protocol
/// id, or one past the negotiated range).
pub fn route(shared: &[SharedCapability], wire_code: u64) -> Option<(usize, u64)> {
    shared
        .iter()
        .enumerate()
        .find_map(|(i, cap)| cap.from_wire(wire_code).map(|code| (i, code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[(&str, u32)]) -> Vec<Capability> {
        list.iter().map(|&(n, v)| Capability::new(n, v)).collect()
    }

    #[test]
    fn display_and_parse() {
        let cap = Capability::new("eth", 68);
        assert_eq!(cap.to_string(), "eth/68");
        assert_eq!("eth/68".parse::<Capability>(), Ok(cap));
        assert_eq!("a/b/1".parse::<Capability>(), Ok(Capability::new("a/b", 1)));
        assert_eq!(
            "eth".parse::<Capability>(),
            Err(P2pError::InvalidCapabilityVersion)
        );
        for bad in [
            "eth/",
            "eth/+1",
            "eth/-1",
            "eth/1.0",
            "eth/4294967296",
            "eth/ 1",
        ] {
            assert_eq!(
                bad.parse::<Capability>(),
                Err(P2pError::InvalidCapabilityVersion),
                "{bad}"
            );
        }
        for bad in [
            "/1",
            "e th/1",
            "éth/1",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1",
        ] {
            assert_eq!(
                bad.parse::<Capability>(),
                Err(P2pError::InvalidCapabilityName),
                "{bad}"
            );
        }
        assert!(
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1"
                .parse::<Capability>()
                .is_ok()
        );
    }

    #[test]
    fn highest_shared_version_in_name_order() {
        let local = [
            ProtocolSpec::new("eth", 66, 17),
            ProtocolSpec::new("eth", 67, 17),
            ProtocolSpec::new("snap", 1, 8),
        ];
        let remote = caps(&[("eth", 67), ("eth", 68), ("snap", 1), ("les", 2)]);
        let shared = match_capabilities(&local, &remote);
        assert_eq!(
            shared,
            [
                SharedCapability {
                    name: "eth".into(),
                    version: 67,
                    offset: 0x10,
                    length: 17
                },
                SharedCapability {
                    name: "snap".into(),
                    version: 1,
                    offset: 0x21,
                    length: 8
                },
            ]
        );
    }

    #[test]
    fn order_is_independent_of_input_order() {
        let local = [
            ProtocolSpec::new("snap", 1, 8),
            ProtocolSpec::new("eth", 68, 17),
            ProtocolSpec::new("eth", 67, 17),
            ProtocolSpec::new("a", 1, 2),
        ];
        let remote = caps(&[("snap", 1), ("eth", 67), ("eth", 68), ("a", 1)]);
        let shared = match_capabilities(&local, &remote);
        let layout: Vec<_> = shared
            .iter()
            .map(|s| (s.name.as_str(), s.version, s.offset))
            .collect();
        assert_eq!(
            layout,
            [("a", 1, 0x10), ("eth", 68, 0x12), ("snap", 1, 0x23)]
        );
    }

    #[test]
    fn case_sensitive_and_duplicates() {
        let local = [
            ProtocolSpec::new("eth", 68, 17),
            ProtocolSpec::new("eth", 68, 99),
        ];
        assert!(match_capabilities(&local, &caps(&[("ETH", 68)])).is_empty());
        let shared = match_capabilities(&local, &caps(&[("eth", 68), ("eth", 68)]));
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].length, 17);
        assert!(match_capabilities(&[], &caps(&[("eth", 68)])).is_empty());
        assert!(match_capabilities(&local, &[]).is_empty());
    }

    #[test]
    fn overflowing_id_space_is_truncated() {
        let local = [
            ProtocolSpec::new("a", 1, u64::MAX - 0x10),
            ProtocolSpec::new("b", 1, 1),
        ];
        let shared = match_capabilities(&local, &caps(&[("a", 1), ("b", 1)]));
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].to_wire(u64::MAX - 0x11), Some(u64::MAX - 1));
        assert_eq!(shared[0].to_wire(u64::MAX - 0x10), None);
    }

    #[test]
    fn offset_arithmetic() {
        let snap = SharedCapability {
            name: "snap".into(),
            version: 1,
            offset: 0x21,
            length: 8,
        };
        assert!(!snap.contains(0x20));
        assert!(snap.contains(0x21));
        assert!(snap.contains(0x28));
        assert!(!snap.contains(0x29));
        assert_eq!(snap.to_wire(0), Some(0x21));
        assert_eq!(snap.to_wire(7), Some(0x28));
        assert_eq!(snap.to_wire(8), None);
        assert_eq!(snap.from_wire(0x28), Some(7));
        assert_eq!(snap.from_wire(0x29), None);
        assert_eq!(snap.from_wire(0), None);
        assert_eq!(snap.capability(), Capability::new("snap", 1));

        let empty = SharedCapability {
            length: 0,
            ..snap.clone()
        };
        assert!(!empty.contains(0x21));
        assert_eq!(empty.to_wire(0), None);
    }

    #[test]
    fn routing() {
        let local = [
            ProtocolSpec::new("eth", 67, 17),
            ProtocolSpec::new("snap", 1, 8),
        ];
        let shared = match_capabilities(&local, &caps(&[("eth", 67), ("snap", 1)]));
        assert_eq!(route(&shared, 0x00), None);
        assert_eq!(route(&shared, 0x0f), None);
        assert_eq!(route(&shared, 0x10), Some((0, 0)));
        assert_eq!(route(&shared, 0x20), Some((0, 16)));
        assert_eq!(route(&shared, 0x21), Some((1, 0)));
        assert_eq!(route(&shared, 0x28), Some((1, 7)));
        assert_eq!(route(&shared, 0x29), None);
        assert_eq!(route(&shared, u64::MAX), None);
        for (i, cap) in shared.iter().enumerate() {
            for code in 0..cap.length {
                let wire = cap.to_wire(code).unwrap();
                assert_eq!(route(&shared, wire), Some((i, code)));
            }
        }
    }

    #[test]
    fn spec_helpers() {
        let spec = ProtocolSpec::new("eth", 68, 17);
        assert_eq!(spec.capability(), Capability::new("eth", 68));
    }
}
