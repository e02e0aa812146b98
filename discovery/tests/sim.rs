//! A deterministic simulation of 1,000 discv4 nodes in one process (the harness in
//! `support/sim.rs`, shared with the discv5 simulation): nodes bootstrap from three bootnodes;
//! then lookups for random targets must return the true 16 closest live nodes; then 30% of the
//! nodes die and the tables must heal.

#[path = "support/sim.rs"]
mod sim;

use std::time::Duration;

use ethp2p_discovery::v4::Config;
use ethp2p_discovery::v5::ServiceConfig;
use sim::{Kind, Proto, Setup, Sim};

const NODES: usize = 1000;

fn nodes() -> usize {
    std::env::var("SIM_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(NODES)
}

#[test]
fn thousand_nodes_bootstrap_converge_and_heal() {
    let mut sim = Sim::new(Setup {
        seed: 7,
        nodes: nodes(),
        kind: |_| Kind::V4,
        join_over: Duration::from_secs(20),
        v4: Config {
            revalidate_interval: Duration::from_secs(5),
            refresh_interval: Duration::from_secs(300),
            ..Config::default()
        },
        v5: ServiceConfig::default(),
    });
    let started = std::time::Instant::now();

    // Bootstrap: every node looks itself up once it has pinged the bootnodes, then refreshes.
    let mut converged_at = None;
    for step in 1..=9 {
        sim.run_until(Duration::from_secs(step * 10));
        let (mean_table, dead) = sim.table_health(Proto::V4);
        assert_eq!(dead, 0.0, "no dead nodes before the kill");
        if converged_at.is_none() && mean_table >= 32.0 {
            converged_at = Some(sim.now);
        }
    }
    let (mean_table, _) = sim.table_health(Proto::V4);
    let converged_at = converged_at.expect("tables filled");
    let lookups = sim.lookup_accuracy(Proto::V4, 100);
    println!(
        "bootstrap: mean table size {mean_table:.1} nodes; tables reached 32 entries on average after {converged_at:?} simulated; {} datagrams so far",
        sim.datagrams
    );
    println!("v4 lookups: {lookups}");
    assert!(lookups.fraction() >= 0.95, "{lookups}");

    // Kill 30% (the bootnodes may die too).
    sim.kill_random(nodes() * 3 / 10);
    let (_, dead_after_kill) = sim.table_health(Proto::V4);
    let kill_time = sim.now;
    let mut healed_at = None;
    for step in 1..=60 {
        sim.run_until(kill_time + Duration::from_secs(step * 10));
        let (_, dead) = sim.table_health(Proto::V4);
        if dead <= 0.02 {
            healed_at = Some(sim.now - kill_time);
            break;
        }
    }
    let (mean_table, dead_now) = sim.table_health(Proto::V4);
    println!(
        "after killing 30%: dead entries {:.1}% -> {:.1}% (healed to <=2% after {healed_at:?} simulated), mean table {mean_table:.1}",
        dead_after_kill * 100.0,
        dead_now * 100.0
    );
    assert!(dead_after_kill > 0.2, "the kill hit the tables");
    assert!(healed_at.is_some(), "tables healed");
    let lookups = sim.lookup_accuracy(Proto::V4, 100);
    println!("v4 lookups after healing: {lookups}");
    assert!(lookups.fraction() >= 0.95, "{lookups}");
    println!("wall time {:?}", started.elapsed());
}
