//! The protocols the command line serves: the built-in `demo/1`, and a counting sink for any
//! other capability named with `--caps`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ethp2p::Protocol;
use ethp2p::p2p::Capability;

/// `demo/1` code 0: a numbered greeting (RLP integer), sent every interval.
pub const GREETING: u64 = 0;
/// `demo/1` code 1: the echo of a greeting.
pub const ECHO: u64 = 1;

/// `demo/1`: greets the peer every `interval` and echoes its greetings.
pub fn demo_protocol(interval: Duration) -> Protocol {
    Protocol::new("demo", 1, 2, move |mut peer| async move {
        let sender = peer.sender();
        let mut tick = tokio::time::interval(interval);
        let mut counter = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    sender.send(GREETING, &rlp::encode(&counter)).await?;
                    counter += 1;
                }
                message = peer.recv() => match message {
                    None => return Ok(()),
                    Some(message) if message.code == GREETING => {
                        sender.send(ECHO, &message.payload).await?;
                    }
                    Some(_) => {}
                },
            }
        }
    })
}

/// Message codes of well-known capabilities, so offsets line up with real clients.
fn known_length(capability: &Capability) -> Option<u64> {
    match (capability.name.as_str(), capability.version) {
        ("eth", 66..=68) => Some(17),
        ("eth", 69) => Some(18),
        ("snap", 1) => Some(8),
        _ => None,
    }
}

/// Parses `name/version[:length]`; the length defaults to the known one, else 16.
pub fn parse_capability(text: &str) -> Result<(Capability, u64), String> {
    let (capability, length) = match text.split_once(':') {
        Some((capability, length)) => {
            let length = length
                .parse()
                .map_err(|_| format!("bad message count in {text:?}"))?;
            (capability, Some(length))
        }
        None => (text, None),
    };
    let capability: Capability = capability
        .parse()
        .map_err(|_| format!("bad capability {text:?} (expected name/version)"))?;
    let length = length.or_else(|| known_length(&capability)).unwrap_or(16);
    Ok((capability, length))
}

/// A handler for `capability` that counts the messages it receives and discards them.
pub fn counting_protocol(
    capability: &Capability,
    length: u64,
    received: Arc<AtomicU64>,
) -> Protocol {
    Protocol::new(
        capability.name.clone(),
        capability.version,
        length,
        move |mut peer| {
            let received = received.clone();
            async move {
                while peer.recv().await.is_some() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
        },
    )
}
