//! Reading a private key from an Ethereum keystore file ([Web3 Secret Storage, version 3]), as
//! go-ethereum's `keystore.DecryptKey` does: the key derived from the password with scrypt or
//! PBKDF2-HMAC-SHA256, the MAC `keccak256(derived[16..32] || ciphertext)` checked, then the
//! ciphertext decrypted with AES-128-CTR under `derived[..16]`. `devp2p dns sign` takes its
//! signing key in this form, so `ethp2p dns sign` does too.
//!
//! [Web3 Secret Storage, version 3]: https://ethereum.org/en/developers/docs/data-structures-and-encoding/web3-secret-storage/

use aes::Aes128;
use aes::cipher::{KeyIvInit, StreamCipher};
use secp256k1::SecretKey;
use serde::Deserialize;
use sha3::{Digest, Keccak256};

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// The largest scrypt work accepted: `128 * r * n` bytes of memory. go-ethereum's standard
/// parameters (n = 2^18, r = 8) need 256 MiB; a file asking for more than 1 GiB is refused
/// rather than allowed to exhaust the machine.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// The most scrypt lanes (`p`) accepted; go-ethereum writes 1.
const MAX_SCRYPT_P: u32 = 16;
/// The most PBKDF2 rounds accepted (go-ethereum's own PBKDF2 files use 262,144).
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

#[derive(Deserialize)]
struct KeyFile {
    version: u32,
    // Go's JSON decoder matches field names case-insensitively, and some wallets write
    // `Crypto`; go-ethereum reads those files, so we do too.
    #[serde(alias = "Crypto")]
    crypto: CryptoSection,
}

#[derive(Deserialize)]
struct CryptoSection {
    cipher: String,
    ciphertext: String,
    cipherparams: CipherParams,
    kdf: String,
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Deserialize)]
struct CipherParams {
    iv: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    n: u64,
    r: u32,
    p: u32,
    dklen: usize,
    salt: String,
}

#[derive(Deserialize)]
struct Pbkdf2Params {
    c: u32,
    dklen: usize,
    prf: String,
    salt: String,
}

/// Reads a password from the first line of standard input, as go-ethereum's prompt does: on a
/// terminal after printing `prompt` to standard error, with echo turned off while typing.
pub fn read_password(prompt: &str) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal, Write};

    let stdin = std::io::stdin();
    let echo_off = stdin.is_terminal().then(|| {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        EchoOff::new()
    });
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(echo_off) = echo_off {
        drop(echo_off);
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Terminal echo turned off on standard input until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: `termios` is plain data, filled in by tcgetattr before it is read; both
        // calls take a valid pointer and fd 0, and fail harmlessly if it is not a terminal.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return EchoOff(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &quiet);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new` on the same fd.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
        }
    }
}

/// Decrypts the private key in keystore JSON `text` with `password`.
pub fn decrypt(text: &str, password: &str) -> Result<SecretKey, String> {
    let file: KeyFile =
        serde_json::from_str(text).map_err(|e| format!("not a keystore file: {e}"))?;
    if file.version != 3 {
        return Err(format!(
            "keystore version {} is not supported (only 3)",
            file.version
        ));
    }
    let crypto = file.crypto;
    if crypto.cipher != "aes-128-ctr" {
        return Err(format!(
            "keystore cipher {:?} is not supported",
            crypto.cipher
        ));
    }
    let derived = derive_key(&crypto.kdf, crypto.kdfparams, password)?;
    let ciphertext = hex_field("ciphertext", &crypto.ciphertext)?;
    let mut mac = Keccak256::new();
    mac.update(&derived[16..32]);
    mac.update(&ciphertext);
    if mac.finalize()[..] != hex_field("mac", &crypto.mac)?[..] {
        return Err("could not decrypt the key with the given password".into());
    }
    let iv: [u8; 16] = hex_field("iv", &crypto.cipherparams.iv)?
        .try_into()
        .map_err(|_| "keystore iv is not 16 bytes".to_string())?;
    let key: [u8; 16] = derived[..16].try_into().expect("at least 32 derived bytes");
    let mut plain = ciphertext;
    Aes128Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut plain);
    let bytes: [u8; 32] = plain
        .try_into()
        .map_err(|_| "the decrypted key is not 32 bytes".to_string())?;
    SecretKey::from_secret_bytes(bytes).map_err(|e| format!("the decrypted key is invalid: {e}"))
}

/// The key-derivation step: at least 32 bytes (the AES key, then the MAC key).
fn derive_key(kdf: &str, params: serde_json::Value, password: &str) -> Result<Vec<u8>, String> {
    let bad = |e: serde_json::Error| format!("bad {kdf} parameters: {e}");
    let mut derived;
    match kdf {
        "scrypt" => {
            let p: ScryptParams = serde_json::from_value(params).map_err(bad)?;
            if !p.n.is_power_of_two() || p.n < 2 {
                return Err(format!("scrypt n = {} is not a power of two", p.n));
            }
            let memory = 128u64.saturating_mul(p.r as u64).saturating_mul(p.n);
            if memory > MAX_SCRYPT_MEMORY || p.p > MAX_SCRYPT_P {
                return Err(format!(
                    "scrypt parameters n = {}, r = {}, p = {} ask for too much work",
                    p.n, p.r, p.p
                ));
            }
            derived = vec![0; dklen(p.dklen)?];
            let params = scrypt::Params::new(p.n.trailing_zeros() as u8, p.r, p.p)
                .map_err(|e| format!("bad scrypt parameters: {e}"))?;
            scrypt::scrypt(
                password.as_bytes(),
                &hex_field("salt", &p.salt)?,
                &params,
                &mut derived,
            )
            .map_err(|e| format!("scrypt: {e}"))?;
        }
        "pbkdf2" => {
            let p: Pbkdf2Params = serde_json::from_value(params).map_err(bad)?;
            if p.prf != "hmac-sha256" {
                return Err(format!("PBKDF2 function {:?} is not supported", p.prf));
            }
            if p.c == 0 || p.c > MAX_PBKDF2_ROUNDS {
                return Err(format!("PBKDF2 rounds c = {} out of range", p.c));
            }
            derived = vec![0; dklen(p.dklen)?];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                password.as_bytes(),
                &hex_field("salt", &p.salt)?,
                p.c,
                &mut derived,
            );
        }
        other => return Err(format!("keystore kdf {other:?} is not supported")),
    }
    Ok(derived)
}

/// The derived key length: 32 is what the format needs and what every writer uses.
fn dklen(dklen: usize) -> Result<usize, String> {
    match dklen {
        32 => Ok(32),
        other => Err(format!("keystore dklen {other} is not supported (only 32)")),
    }
}

fn hex_field(name: &str, value: &str) -> Result<Vec<u8>, String> {
    hex::decode(value).map_err(|e| format!("keystore {name} is not hex: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of the Web3 Secret Storage definition: password `testpassword`.
    const PRIVATE_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    const PBKDF2: &str = r#"{
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": "6087dab2f9fdbbfaddc31a909735c1e6" },
            "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "kdf": "pbkdf2",
            "kdfparams": {
                "c": 262144, "dklen": 32, "prf": "hmac-sha256",
                "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"
            },
            "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    const SCRYPT: &str = r#"{
        "Crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": "83dbcc02d8ccb40e466191a123791e0e" },
            "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
            "kdf": "scrypt",
            "kdfparams": {
                "dklen": 32, "n": 262144, "r": 1, "p": 8,
                "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"
            },
            "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    }"#;

    #[test]
    fn decrypts_the_specification_vectors() {
        for file in [PBKDF2, SCRYPT] {
            let key = decrypt(file, "testpassword").unwrap();
            assert_eq!(hex::encode(key.to_secret_bytes()), PRIVATE_KEY);
        }
    }

    #[test]
    fn a_wrong_password_is_refused() {
        let error = decrypt(PBKDF2, "wrong").unwrap_err();
        assert!(error.contains("password"), "{error}");
    }

    #[test]
    fn unsupported_or_costly_files_are_refused() {
        let expensive = SCRYPT.replace("\"n\": 262144", "\"n\": 1073741824");
        assert!(decrypt(&expensive, "x").unwrap_err().contains("too much"));
        let not_power = SCRYPT.replace("\"n\": 262144", "\"n\": 262145");
        assert!(
            decrypt(&not_power, "x")
                .unwrap_err()
                .contains("power of two")
        );
        let version = PBKDF2.replace("\"version\": 3", "\"version\": 1");
        assert!(decrypt(&version, "x").unwrap_err().contains("version 1"));
        let cipher = PBKDF2.replace("aes-128-ctr", "aes-256-gcm");
        assert!(decrypt(&cipher, "x").unwrap_err().contains("cipher"));
        assert!(decrypt("{}", "x").unwrap_err().contains("not a keystore"));
    }
}
