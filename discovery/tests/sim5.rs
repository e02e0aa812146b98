//! discv5 in the deterministic discovery simulation (the harness in `support/sim.rs`, shared
//! with discv4's `tests/sim.rs`): 1,000 discv5 nodes, and a mixed network of discv4-only,
//! discv5-only and dual nodes, whose lookups must return the true 16 closest live nodes that
//! speak the lookup's protocol. Ignored: 10,000 nodes of each protocol with 30% churn
//! (`cargo test --release -p ethp2p-discovery --test sim5 -- --ignored --nocapture`).

#[path = "support/sim.rs"]
mod sim;

use std::time::{Duration, Instant};

use ethp2p_discovery::v4::Config as V4Config;
use ethp2p_discovery::v5::ServiceConfig;
use rand::RngExt;
use sim::{Accuracy, BOOTNODES, Kind, Proto, Setup, Sim};

/// Lookups measured per protocol and phase.
const TRIALS: usize = 100;

fn setup(seed: u64, nodes: usize, kind: fn(usize) -> Kind) -> Setup {
    Setup {
        seed,
        nodes,
        kind,
        join_over: Duration::from_secs(20),
        v4: V4Config {
            revalidate_interval: Duration::from_secs(5),
            refresh_interval: Duration::from_secs(300),
            ..V4Config::default()
        },
        v5: ServiceConfig {
            refresh_interval: Duration::from_secs(300),
            ..ServiceConfig::default()
        },
    }
}

/// Runs the network for `span` simulated, printing the tables' state.
fn bootstrap(sim: &mut Sim, span: Duration, protos: &[Proto]) {
    sim.run_until(span);
    for &proto in protos {
        let (mean_table, dead) = sim.table_health(proto);
        assert_eq!(dead, 0.0, "no dead nodes yet");
        println!("{proto:?}: mean table size {mean_table:.1} after {span:?} simulated");
    }
}

#[test]
fn thousand_v5_nodes_find_the_closest() {
    let started = Instant::now();
    let mut sim = Sim::new(setup(5, 1000, |_| Kind::V5));
    bootstrap(&mut sim, Duration::from_secs(90), &[Proto::V5]);
    let v5 = sim.lookup_accuracy(Proto::V5, TRIALS);
    println!("v5 lookups, 1,000 v5 nodes: {v5}");
    println!("wall time {:?}", started.elapsed());
    assert!(v5.fraction() >= 0.95, "{v5}");
}

/// A third each of discv4-only, discv5-only and dual nodes; the bootnodes are dual.
#[test]
fn thousand_mixed_nodes_find_the_closest_of_their_protocol() {
    let started = Instant::now();
    let kind = |i: usize| match i % 3 {
        _ if i < BOOTNODES => Kind::Dual,
        0 => Kind::V4,
        1 => Kind::V5,
        _ => Kind::Dual,
    };
    let mut sim = Sim::new(setup(6, 1000, kind));
    bootstrap(&mut sim, Duration::from_secs(90), &[Proto::V4, Proto::V5]);
    let v4 = sim.lookup_accuracy(Proto::V4, TRIALS);
    let v5 = sim.lookup_accuracy(Proto::V5, TRIALS);
    println!("mixed 1,000 nodes (1/3 v4, 1/3 v5, 1/3 dual):");
    println!("  v4 lookups: {v4}");
    println!("  v5 lookups: {v5}");
    println!(
        "  packets per lookup v5 / v4: {:.2}",
        v5.packets / v4.packets
    );
    println!("wall time {:?}", started.elapsed());
    assert!(v4.fraction() >= 0.95, "v4: {v4}");
    assert!(v5.fraction() >= 0.95, "v5: {v5}");
}

/// 10,000 nodes of one protocol: bootstrap, lookups; then 30% churn (30% of the nodes stop
/// and as many new ones join over a minute, each from three random live nodes), three minutes
/// to heal, lookups again.
fn ten_thousand_with_churn(proto: Proto) -> (Accuracy, Accuracy) {
    let started = Instant::now();
    let kind: fn(usize) -> Kind = match proto {
        Proto::V4 => |_| Kind::V4,
        Proto::V5 => |_| Kind::V5,
    };
    let nodes = 10_000;
    let mut sim = Sim::new(Setup {
        join_over: Duration::from_secs(60),
        ..setup(10, nodes, kind)
    });
    bootstrap(&mut sim, Duration::from_secs(120), &[proto]);
    let before = sim.lookup_accuracy(proto, TRIALS);
    println!("{proto:?} 10,000 nodes: lookups {before}");
    let churn = nodes * 3 / 10;
    sim.kill_random(churn);
    let now = sim.now;
    for _ in 0..churn {
        let boots = sim.random_alive(BOOTNODES);
        let join = now + Duration::from_millis(sim.rng.random_range(0..60_000));
        sim.spawn(kind(0), join, &boots);
    }
    let (_, dead) = sim.table_health(proto);
    sim.run_until(now + Duration::from_secs(180));
    let (mean_table, dead_after) = sim.table_health(proto);
    println!(
        "{proto:?} after 30% churn: dead verified entries {:.1}% -> {:.1}% after 180 s, mean table {mean_table:.1}",
        dead * 100.0,
        dead_after * 100.0
    );
    let after = sim.lookup_accuracy(proto, TRIALS);
    println!("{proto:?} 10,000 nodes after churn: lookups {after}");
    println!("{proto:?} wall time {:?}", started.elapsed());
    (before, after)
}

#[test]
#[ignore = "10,000 nodes: minutes in release"]
fn ten_thousand_v4_nodes_with_churn() {
    let (before, after) = ten_thousand_with_churn(Proto::V4);
    assert!(before.fraction() >= 0.95, "{before}");
    assert!(after.fraction() >= 0.95, "{after}");
}

#[test]
#[ignore = "10,000 nodes: minutes in release"]
fn ten_thousand_v5_nodes_with_churn() {
    let (before, after) = ten_thousand_with_churn(Proto::V5);
    assert!(before.fraction() >= 0.95, "{before}");
    assert!(after.fraction() >= 0.95, "{after}");
}
