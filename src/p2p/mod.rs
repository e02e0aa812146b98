//! The devp2p base protocol ("p2p", version 5) carried over RLPx.
