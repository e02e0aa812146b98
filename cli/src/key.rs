//! `ethp2p key generate`.

use std::path::Path;

use ethp2p::PeerId;
use ethp2p::rlpx::random_secret_key;

use super::keys;

/// Writes a new go-ethereum compatible `nodekey` file (never overwriting one) and prints the
/// node id.
pub fn generate(out: &Path) -> Result<(), String> {
    if out.exists() {
        return Err(format!(
            "{} exists; not overwriting a node key",
            out.display()
        ));
    }
    let key = random_secret_key(&mut rand::make_rng::<rand::rngs::StdRng>());
    keys::save(out, &key)?;
    eprintln!("node key written to {}", out.display());
    println!("{}", PeerId::from_secret_key(&key));
    Ok(())
}
