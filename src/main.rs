//! The `ethp2p` command line.

use std::time::Instant;

use clap::{Parser, Subcommand};
use ethp2p::p2p::{Capability, DisconnectReason, Hello, P2pConnection, PONG, PROTOCOL_VERSION};
use ethp2p::rlpx::{MAX_FRAME_SIZE, PeerId, RlpxStream, random_secret_key};
use secp256k1::{PublicKey, SecretKey};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
#[command(name = "ethp2p", version, about = "Ethereum devp2p networking")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two nodes on 127.0.0.1: RLPx handshake, Hello, messages both ways, Ping, Disconnect.
    Demo {
        /// Messages each side sends.
        #[arg(long, default_value_t = 1000)]
        messages: u32,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match Cli::parse().command {
        Command::Demo { messages } => demo(messages).await,
    }
}

fn hello(key: &SecretKey, client: &str, port: u16) -> Hello {
    Hello {
        protocol_version: PROTOCOL_VERSION,
        client_id: format!("ethp2p/{client}/v{}", env!("CARGO_PKG_VERSION")),
        capabilities: vec![Capability::new("demo", 1)],
        listen_port: port,
        id: PeerId::from_secret_key(key).0,
    }
}

/// The demo protocol's only message: code 0 of `demo/1`, which sits at wire code 0x10.
const DEMO_MESSAGE: u64 = 0x10;

async fn demo(messages: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let (a_key, b_key) = (random_secret_key(&mut rng), random_secret_key(&mut rng));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    println!(
        "node B listening on 127.0.0.1:{port} id {}",
        PeerId::from_secret_key(&b_key)
    );

    let b = tokio::spawn(async move {
        let mut rng: rand::rngs::StdRng = rand::make_rng();
        let (tcp, remote) = listener.accept().await?;
        let stream = RlpxStream::accept(tcp, b_key, &mut rng, MAX_FRAME_SIZE).await?;
        let mut connection = P2pConnection::handshake(stream, &hello(&b_key, "B", port)).await?;
        println!(
            "node B: accepted {remote}, remote client {:?}",
            connection.remote_hello().client_id
        );
        let mut received = 0u32;
        while received < messages {
            let (code, payload) = connection.recv().await?;
            if code == DEMO_MESSAGE {
                received += 1;
                let echo = payload.to_vec();
                connection.send(DEMO_MESSAGE, &echo).await?;
            }
        }
        // Wait for A's goodbye; the reason it gives ends the session.
        let end = loop {
            if let Err(end) = connection.recv().await {
                break end;
            }
        };
        println!("node B: session ended: {end}");
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(received)
    });

    let started = Instant::now();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let stream = RlpxStream::connect(
        tcp,
        a_key,
        PublicKey::from_secret_key(&b_key),
        &mut rng,
        MAX_FRAME_SIZE,
    )
    .await?;
    let mut connection = P2pConnection::handshake(stream, &hello(&a_key, "A", 0)).await?;
    println!(
        "node A: handshake and Hello done in {:?}; shared snappy: {}",
        started.elapsed(),
        connection.snappy()
    );
    let sent_at = Instant::now();
    for i in 0..messages {
        connection
            .send(DEMO_MESSAGE, format!("message {i}").as_bytes())
            .await?;
        let (code, echo) = connection.recv().await?;
        assert_eq!(
            (code, echo),
            (DEMO_MESSAGE, format!("message {i}").as_bytes())
        );
    }
    println!(
        "node A: {messages} messages echoed in {:?}",
        sent_at.elapsed()
    );
    let pinged = Instant::now();
    connection.ping().await?;
    let (code, _) = connection.recv().await?;
    assert_eq!(code, PONG);
    println!("node A: ping round trip {:?}", pinged.elapsed());
    connection
        .disconnect(DisconnectReason::ClientQuitting)
        .await?;
    let received = b.await?.map_err(|e| e.to_string())?;
    println!("demo ok: {received} messages each way");
    Ok(())
}
