//! Node discovery for ethp2p: enode URLs, Ethereum Node Records (EIP-778) and the discv4 protocol.
//!
//! Not implemented yet: this crate is a placeholder so the workspace layout is fixed from the start.
