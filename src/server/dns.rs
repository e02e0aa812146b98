//! DNS node lists (EIP-1459) as a node source: the nodes of signed trees, as go-ethereum
//! bootstraps from `enrtree://...@all.mainnet.ethdisco.net`, handed to the dialer one at a time
//! when it wants a candidate (the DNS client itself lives in `ethp2p_discovery::dns`).

use ethp2p_discovery::dns::driver::NodeIterator;
use ethp2p_discovery::dns::{ClientConfig, LinkEntry, Resolver};

use super::ServerHandle;
use super::sources::NodeSender;

impl ServerHandle {
    /// Dials the nodes listed in the DNS trees at `urls` (and the trees they link to), looked
    /// up through `resolver` (`ethp2p_discovery::dns::HickoryResolver` for real DNS). The
    /// trees are walked only as fast as the dialer takes candidates, within `config`'s rate
    /// limit; records without an IP and TCP port are skipped. Works with or without discv4.
    pub fn add_dns_discovery<R>(&self, resolver: R, urls: &[LinkEntry], config: ClientConfig)
    where
        R: Resolver + Send + Sync + 'static,
    {
        let nodes = NodeIterator::new(resolver, config, rand::random(), urls);
        let source = self.add_node_source("dns");
        self.inner.tasks.spawn(feed(nodes, source));
    }
}

async fn feed<R: Resolver>(mut nodes: NodeIterator<R>, source: NodeSender) {
    loop {
        let Ok(slot) = source.reserve().await else {
            return;
        };
        let record = tokio::select! {
            _ = source.closed() => return,
            record = nodes.next_node() => record,
        };
        let Some(record) = record else {
            tracing::debug!("no DNS tree left to walk");
            return;
        };
        match record.to_enode() {
            Some(enode) if enode.tcp_port != 0 => slot.send(enode),
            _ => tracing::debug!(%record, "DNS tree node without an IP and TCP port: skipped"),
        }
    }
}
