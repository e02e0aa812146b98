//! Byte streams over a peer: two nodes on 127.0.0.1, one listening for streams named `upper`
//! (it answers each with the text in upper case), the other opening one, writing a line,
//! half-closing and reading the answer.
//!
//! ```sh
//! cargo run --example streams
//! ```
//!
//! Turn streams on with `ServerConfig::streams`; then `accept_streams` and `open_stream` on the
//! handle. A stream is tokio's `AsyncRead + AsyncWrite`, so `tokio::io` helpers work on it.

use std::net::SocketAddr;

use ethp2p::rlpx::random_secret_key;
use ethp2p::streams::{Allow, StreamConfig};
use ethp2p::{PeerEvent, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = |listen: Option<SocketAddr>| {
        let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
        config.listen_addr = listen;
        config.streams = Some(StreamConfig::default());
        Server::start(config)
    };
    let server = node(Some(SocketAddr::from(([127, 0, 0, 1], 0)))).await?;
    let client = node(None).await?;

    // Every peer may open `upper` streams (`Allow::Only(ids)` restricts it).
    let mut listener = server.accept_streams("upper", Allow::All)?;
    tokio::spawn(async move {
        while let Some((peer, mut stream)) = listener.accept().await {
            tokio::spawn(async move {
                let mut text = String::new();
                // Reads until the opener half-closes.
                if stream.read_to_string(&mut text).await.is_ok() {
                    println!("{peer} sent {text:?}");
                    let _ = stream.write_all(text.to_uppercase().as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });

    let mut events = client.events();
    client.add_peer(server.local_enode());
    while !matches!(events.recv().await?, PeerEvent::Added(_)) {}

    // Returns once the server accepted; a refusal (no listener, not allowed) is an error here.
    let mut stream = client.open_stream(server.local_id(), "upper").await?;
    stream.write_all(b"hello over devp2p").await?;
    stream.shutdown().await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    println!("answer: {answer}");

    client.shutdown().await;
    server.shutdown().await;
    Ok(())
}
