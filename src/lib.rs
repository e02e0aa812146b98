//! ethp2p: Ethereum's devp2p networking stack.
//!
//! Layers, bottom up (see `README.md` for the architecture sketch):
//! - [`rlpx`]: the ECIES handshake and the encrypted, MAC-authenticated frame codec
//!   ([rlpx.md](https://github.com/ethereum/devp2p/blob/master/rlpx.md)), sans-IO, plus a thin
//!   tokio stream driver;
//! - [`p2p`]: the base protocol carried over RLPx (Hello, Disconnect, Ping/Pong, snappy
//!   message compression, capability matching).

pub mod p2p;
pub mod rlpx;
