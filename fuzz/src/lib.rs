//! Fixtures shared by the fuzz targets in `fuzz_targets/` and the seed generator in
//! `examples/make_seeds.rs`.
//!
//! Everything here is deterministic: fixed keys (the EIP-8 test vector keys), RNGs seeded with
//! constants, and a handshake run once per process. libFuzzer needs a target to behave the same on
//! the same input, and the generator needs to reproduce the seed files byte for byte.

pub mod discv5;

use std::sync::{Mutex, OnceLock};

use ethp2p::rlpx::handshake::{AckBody, AuthBody, decode_ack, decode_auth};
use ethp2p::rlpx::{
    AwaitingAck, HandshakeError, Initiator, MAX_FRAME_SIZE, MAX_HANDSHAKE_PACKET, PacketLen,
    PeerId, Recipient, Secrets, ecies,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use secp256k1::{PublicKey, SecretKey};

/// The EIP-8 test vectors (<https://eips.ethereum.org/EIPS/eip-8#rlpx-handshake>), as hex.
pub mod eip8 {
    /// "Static Key A": the initiator's static key.
    pub const STATIC_A: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
    /// "Static Key B": the recipient's static key.
    pub const STATIC_B: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
    /// "Ephemeral Key A".
    pub const EPHEMERAL_A: &str =
        "869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d";
    /// "Ephemeral Key B".
    pub const EPHEMERAL_B: &str =
        "e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4";
    /// "Nonce A".
    pub const NONCE_A: &str = "7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6";
    /// "Nonce B".
    pub const NONCE_B: &str = "559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd";

    /// Auth₁: legacy layout, A -> B.
    pub const AUTH1: &str = "
048ca79ad18e4b0659fab4853fe5bc58eb83992980f4c9cc147d2aa31532efd29a3d3dc6a3d89eaf
913150cfc777ce0ce4af2758bf4810235f6e6ceccfee1acc6b22c005e9e3a49d6448610a58e98744
ba3ac0399e82692d67c1f58849050b3024e21a52c9d3b01d871ff5f210817912773e610443a9ef14
2e91cdba0bd77b5fdf0769b05671fc35f83d83e4d3b0b000c6b2a1b1bba89e0fc51bf4e460df3105
c444f14be226458940d6061c296350937ffd5e3acaceeaaefd3c6f74be8e23e0f45163cc7ebd7622
0f0128410fd05250273156d548a414444ae2f7dea4dfca2d43c057adb701a715bf59f6fb66b2d1d2
0f2c703f851cbf5ac47396d9ca65b6260bd141ac4d53e2de585a73d1750780db4c9ee4cd4d225173
a4592ee77e2bd94d0be3691f3b406f9bba9b591fc63facc016bfa8";

    /// Auth₂: EIP-8 layout, version 4.
    pub const AUTH2: &str = "
01b304ab7578555167be8154d5cc456f567d5ba302662433674222360f08d5f1534499d3678b513b
0fca474f3a514b18e75683032eb63fccb16c156dc6eb2c0b1593f0d84ac74f6e475f1b8d56116b84
9634a8c458705bf83a626ea0384d4d7341aae591fae42ce6bd5c850bfe0b999a694a49bbbaf3ef6c
da61110601d3b4c02ab6c30437257a6e0117792631a4b47c1d52fc0f8f89caadeb7d02770bf999cc
147d2df3b62e1ffb2c9d8c125a3984865356266bca11ce7d3a688663a51d82defaa8aad69da39ab6
d5470e81ec5f2a7a47fb865ff7cca21516f9299a07b1bc63ba56c7a1a892112841ca44b6e0034dee
70c9adabc15d76a54f443593fafdc3b27af8059703f88928e199cb122362a4b35f62386da7caad09
c001edaeb5f8a06d2b26fb6cb93c52a9fca51853b68193916982358fe1e5369e249875bb8d0d0ec3
6f917bc5e1eafd5896d46bd61ff23f1a863a8a8dcd54c7b109b771c8e61ec9c8908c733c0263440e
2aa067241aaa433f0bb053c7b31a838504b148f570c0ad62837129e547678c5190341e4f1693956c
3bf7678318e2d5b5340c9e488eefea198576344afbdf66db5f51204a6961a63ce072c8926c";

    /// Auth₃: EIP-8 layout, version 56, additional list elements.
    pub const AUTH3: &str = "
01b8044c6c312173685d1edd268aa95e1d495474c6959bcdd10067ba4c9013df9e40ff45f5bfd6f7
2471f93a91b493f8e00abc4b80f682973de715d77ba3a005a242eb859f9a211d93a347fa64b597bf
280a6b88e26299cf263b01b8dfdb712278464fd1c25840b995e84d367d743f66c0e54a586725b7bb
f12acca27170ae3283c1073adda4b6d79f27656993aefccf16e0d0409fe07db2dc398a1b7e8ee93b
cd181485fd332f381d6a050fba4c7641a5112ac1b0b61168d20f01b479e19adf7fdbfa0905f63352
bfc7e23cf3357657455119d879c78d3cf8c8c06375f3f7d4861aa02a122467e069acaf513025ff19
6641f6d2810ce493f51bee9c966b15c5043505350392b57645385a18c78f14669cc4d960446c1757
1b7c5d725021babbcd786957f3d17089c084907bda22c2b2675b4378b114c601d858802a55345a15
116bc61da4193996187ed70d16730e9ae6b3bb8787ebcaea1871d850997ddc08b4f4ea668fbf3740
7ac044b55be0908ecb94d4ed172ece66fd31bfdadf2b97a8bc690163ee11f5b575a4b44e36e2bfb2
f0fce91676fd64c7773bac6a003f481fddd0bae0a1f31aa27504e2a533af4cef3b623f4791b2cca6
d490";

    /// Ack₁: legacy layout, B -> A.
    pub const ACK1: &str = "
049f8abcfa9c0dc65b982e98af921bc0ba6e4243169348a236abe9df5f93aa69d99cadddaa387662
b0ff2c08e9006d5a11a278b1b3331e5aaabf0a32f01281b6f4ede0e09a2d5f585b26513cb794d963
5a57563921c04a9090b4f14ee42be1a5461049af4ea7a7f49bf4c97a352d39c8d02ee4acc416388c
1c66cec761d2bc1c72da6ba143477f049c9d2dde846c252c111b904f630ac98e51609b3b1f58168d
dca6505b7196532e5f85b259a20c45e1979491683fee108e9660edbf38f3add489ae73e3dda2c71b
d1497113d5c755e942d1";

    /// Ack₂: EIP-8 layout, version 4.
    pub const ACK2: &str = "
01ea0451958701280a56482929d3b0757da8f7fbe5286784beead59d95089c217c9b917788989470
b0e330cc6e4fb383c0340ed85fab836ec9fb8a49672712aeabbdfd1e837c1ff4cace34311cd7f4de
05d59279e3524ab26ef753a0095637ac88f2b499b9914b5f64e143eae548a1066e14cd2f4bd7f814
c4652f11b254f8a2d0191e2f5546fae6055694aed14d906df79ad3b407d94692694e259191cde171
ad542fc588fa2b7333313d82a9f887332f1dfc36cea03f831cb9a23fea05b33deb999e85489e645f
6aab1872475d488d7bd6c7c120caf28dbfc5d6833888155ed69d34dbdc39c1f299be1057810f34fb
e754d021bfca14dc989753d61c413d261934e1a9c67ee060a25eefb54e81a4d14baff922180c395d
3f998d70f46f6b58306f969627ae364497e73fc27f6d17ae45a413d322cb8814276be6ddd13b885b
201b943213656cde498fa0e9ddc8e0b8f8a53824fbd82254f3e2c17e8eaea009c38b4aa0a3f306e8
797db43c25d68e86f262e564086f59a2fc60511c42abfb3057c247a8a8fe4fb3ccbadde17514b7ac
8000cdb6a912778426260c47f38919a91f25f4b5ffb455d6aaaf150f7e5529c100ce62d6d92826a7
1778d809bdf60232ae21ce8a437eca8223f45ac37f6487452ce626f549b3b5fdee26afd2072e4bc7
5833c2464c805246155289f4";

    /// Ack₃: EIP-8 layout, version 57, additional list elements.
    pub const ACK3: &str = "
01f004076e58aae772bb101ab1a8e64e01ee96e64857ce82b1113817c6cdd52c09d26f7b90981cd7
ae835aeac72e1573b8a0225dd56d157a010846d888dac7464baf53f2ad4e3d584531fa203658fab0
3a06c9fd5e35737e417bc28c1cbf5e5dfc666de7090f69c3b29754725f84f75382891c561040ea1d
dc0d8f381ed1b9d0d4ad2a0ec021421d847820d6fa0ba66eaf58175f1b235e851c7e2124069fbc20
2888ddb3ac4d56bcbd1b9b7eab59e78f2e2d400905050f4a92dec1c4bdf797b3fc9b2f8e84a482f3
d800386186712dae00d5c386ec9387a5e9c9a1aca5a573ca91082c7d68421f388e79127a5177d4f8
590237364fd348c9611fa39f78dcdceee3f390f07991b7b47e1daa3ebcb6ccc9607811cb17ce51f1
c8c2c5098dbdd28fca547b3f58c01a424ac05f869f49c6a34672ea2cbbc558428aa1fe48bbfd6115
8b1b735a65d99f21e70dbc020bfdface9f724a0d1fb5895db971cc81aa7608baa0920abb0a565c9c
436e2fd13323428296c86385f2384e408a31e104670df0791d93e743a3a5194ee6b076fb6323ca59
3011b7348c16cf58f66b9633906ba54a2ee803187344b394f75dd2e663a57b956cb830dd7a908d4f
39a2336a61ef9fda549180d4ccde21514d117b6c6fd07a9102b5efe710a32af4eeacae2cb3b1dec0
35b9593b48b9d3ca4c13d245d5f04169b0b1";

    /// Decodes one of the multi-line hex constants above.
    pub fn bytes(hex_lines: &str) -> Vec<u8> {
        hex::decode(hex_lines.split_whitespace().collect::<String>()).expect("valid vector hex")
    }
}

/// Plaintext layout of a pre-EIP-8 auth body, in bytes.
pub const LEGACY_AUTH_BODY: usize = 194;
/// Plaintext layout of a pre-EIP-8 ack body, in bytes.
pub const LEGACY_ACK_BODY: usize = 97;

fn secret(hex_key: &str) -> SecretKey {
    SecretKey::from_secret_bytes(bytes32(hex_key)).expect("vector keys are valid")
}

fn bytes32(hex_value: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_value, &mut out).expect("32 bytes of hex");
    out
}

/// The initiator's static key ("Static Key A").
pub fn static_a() -> SecretKey {
    secret(eip8::STATIC_A)
}

/// The recipient's static key ("Static Key B").
pub fn static_b() -> SecretKey {
    secret(eip8::STATIC_B)
}

/// Public keys of A and B, computed once (a key generation costs tens of microseconds).
fn public_keys() -> &'static (PublicKey, PublicKey) {
    static KEYS: OnceLock<(PublicKey, PublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            PublicKey::from_secret_key(&static_a()),
            PublicKey::from_secret_key(&static_b()),
        )
    })
}

/// Public key of "Static Key A".
pub fn public_a() -> PublicKey {
    public_keys().0
}

/// Public key of "Static Key B".
pub fn public_b() -> PublicKey {
    public_keys().1
}

/// A deterministic RNG for sealing packets (`StdRng` implements rand_core 0.10's `CryptoRng`).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The RNG seed the fixture handshake's initiator writes its auth with.
const AUTH_SEED: u64 = 1;
/// The RNG seed the fixture handshake's recipient writes its ack with.
const ACK_SEED: u64 = 2;

/// A fresh initiator A -> B with the vector's ephemeral key and nonce.
pub fn initiator() -> Initiator {
    Initiator::new(
        static_a(),
        public_b(),
        secret(eip8::EPHEMERAL_A),
        bytes32(eip8::NONCE_A),
    )
}

/// A fresh recipient B with the vector's ephemeral key and nonce.
pub fn recipient() -> Recipient {
    Recipient::new(
        static_b(),
        secret(eip8::EPHEMERAL_B),
        bytes32(eip8::NONCE_B),
    )
}

/// A complete in-memory handshake between [`initiator`] and [`recipient`].
pub struct Handshake {
    /// The auth packet the initiator sent.
    pub auth: Vec<u8>,
    /// The ack packet the recipient answered with.
    pub ack: Vec<u8>,
    /// The initiator's connection secrets.
    pub initiator: Secrets,
    /// The recipient's connection secrets.
    pub recipient: Secrets,
}

/// The fixture handshake, run once per process.
pub fn handshake() -> &'static Handshake {
    static HANDSHAKE: OnceLock<Handshake> = OnceLock::new();
    HANDSHAKE.get_or_init(|| {
        let (awaiting, auth) = initiator().write_auth(&mut rng(AUTH_SEED));
        let received = recipient().read_auth(&auth).expect("fixture auth is valid");
        assert_eq!(received.remote_id(), PeerId::from_secret_key(&static_a()));
        let (recipient, ack) = received.write_ack(&mut rng(ACK_SEED));
        let initiator = awaiting.read_ack(&ack).expect("fixture ack is valid");
        assert_eq!(initiator.remote_id, PeerId::from_secret_key(&static_b()));
        Handshake {
            auth,
            ack,
            initiator: initiator.secrets,
            recipient: recipient.secrets,
        }
    })
}

/// Seals `body` the way an EIP-8 packet is sealed: 2-byte size prefix, then ECIES with the
/// prefix as MAC data. No padding is added (the fuzzer chooses the whole body). Bodies too large
/// for the 16-bit size field are cut.
pub fn seal_eip8(remote: &PublicKey, body: &[u8], seed: u64) -> Vec<u8> {
    let body = &body[..body.len().min(usize::from(u16::MAX) - ecies::OVERHEAD)];
    let size = u16::try_from(body.len() + ecies::OVERHEAD)
        .expect("cut to fit")
        .to_be_bytes();
    let mut packet = size.to_vec();
    ecies::encrypt(&mut rng(seed), remote, body, &size, &mut packet);
    packet
}

/// Seals `body` in the pre-EIP-8 way: a bare ECIES envelope.
pub fn seal_legacy(remote: &PublicKey, body: &[u8], seed: u64) -> Vec<u8> {
    let mut packet = Vec::new();
    ecies::encrypt(&mut rng(seed), remote, body, &[], &mut packet);
    packet
}

/// Invariants of `packet_len` that the stream driver relies on: `NeedMore(n)` always asks for
/// more than it has (or the driver would spin), `Complete(n)` never claims more than it has or
/// than the packet cap, and any packet the decoder accepts is reported complete at exactly its own
/// length (or the driver would cut it differently from what the decoder accepts).
fn check_packet_len(buf: &[u8], len: &Result<PacketLen, HandshakeError>, decodes: bool) {
    match *len {
        Ok(PacketLen::NeedMore(n)) => {
            assert!(
                n > buf.len(),
                "NeedMore({n}) with {} bytes buffered",
                buf.len()
            );
            assert!(
                n <= MAX_HANDSHAKE_PACKET,
                "NeedMore({n}) above the packet cap"
            );
        }
        Ok(PacketLen::Complete(n)) => {
            assert!(
                n <= buf.len(),
                "Complete({n}) with {} bytes buffered",
                buf.len()
            );
            assert!(
                n <= MAX_HANDSHAKE_PACKET,
                "Complete({n}) above the packet cap"
            );
        }
        Err(_) => {}
    }
    if decodes {
        assert_eq!(
            *len,
            Ok(PacketLen::Complete(buf.len())),
            "decoder and packet_len disagree"
        );
    }
}

/// Runs an auth packet through everything a recipient does with it: `decode_auth`,
/// `Recipient::packet_len`, then on the complete prefix `read_auth` and, if that succeeds,
/// `write_ack`. Returns what `decode_auth` made of the whole packet.
pub fn check_auth(packet: &[u8]) -> Result<AuthBody, HandshakeError> {
    let decoded = decode_auth(&static_b(), packet);
    let recipient = recipient();
    let len = recipient.packet_len(packet);
    check_packet_len(packet, &len, decoded.is_ok());
    if let Ok(PacketLen::Complete(n)) = len {
        let prefix = &packet[..n];
        if let Ok(received) = recipient.read_auth(prefix) {
            let body = decode_auth(&static_b(), prefix).expect("read_auth accepted it");
            assert_eq!(received.remote_id(), body.initiator_id);
            assert_eq!(received.format(), body.format);
            let initiator_is_a = body.initiator_id == PeerId::from_public_key(&public_a());
            let (established, ack) = received.write_ack(&mut rng(ACK_SEED));
            assert!(ack.len() <= MAX_HANDSHAKE_PACKET, "our ack exceeds the cap");
            if initiator_is_a {
                // The ack is sealed to the initiator: A must be able to read it back.
                let ack_body = decode_ack(&static_a(), &ack).expect("our own ack decodes");
                assert_eq!(
                    ack_body.format, body.format,
                    "ack format follows auth format"
                );
            }
            drop(established.into_codec(MAX_FRAME_SIZE));
        }
    }
    decoded
}

/// An initiator that has written its auth, kept across iterations: writing an auth costs an
/// ECDH, a signature and an ECIES encryption, while most inputs never get as far as `read_ack`
/// (which consumes it). Rebuilt deterministically, so every iteration sees the same state.
static AWAITING: Mutex<Option<AwaitingAck>> = Mutex::new(None);

/// Runs an ack packet through everything an initiator does with it: `decode_ack`,
/// `AwaitingAck::packet_len`, then on the complete prefix `read_ack`. Returns what `decode_ack`
/// made of the whole packet.
pub fn check_ack(packet: &[u8]) -> Result<AckBody, HandshakeError> {
    let decoded = decode_ack(&static_a(), packet);
    let mut slot = AWAITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let awaiting = slot.get_or_insert_with(|| initiator().write_auth(&mut rng(AUTH_SEED)).0);
    let len = awaiting.packet_len(packet);
    check_packet_len(packet, &len, decoded.is_ok());
    if let Ok(PacketLen::Complete(n)) = len {
        let prefix = &packet[..n];
        // `read_ack` starts with `decode_ack`: on a prefix that does not decode it would only
        // consume the initiator, and rebuilding it costs a whole auth. So only decodable prefixes
        // go on to `read_ack` (which must then derive the secrets, or fail on the ephemeral key).
        let prefix_decodes = if n == packet.len() {
            decoded.is_ok()
        } else {
            decode_ack(&static_a(), prefix).is_ok()
        };
        if prefix_decodes {
            let awaiting = slot.take().expect("inserted above");
            match awaiting.read_ack(prefix) {
                Ok(established) => {
                    assert_eq!(established.remote_id, PeerId::from_public_key(&public_b()));
                    drop(established.into_codec(MAX_FRAME_SIZE));
                }
                Err(err) => assert_eq!(err, HandshakeError::InvalidPublicKey),
            }
        }
    }
    decoded
}
