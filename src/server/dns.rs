//! DNS node lists (EIP-1459) as a node source: the nodes of signed trees, as go-ethereum
//! bootstraps from `enrtree://...@all.mainnet.ethdisco.net`, handed to the dialer one at a time
//! when it wants a candidate (the DNS client itself lives in `ethp2p_discovery::dns`).

use ethp2p_discovery::dns::driver::NodeIterator;
use ethp2p_discovery::dns::{ClientConfig, LinkEntry, Resolver};
use ethp2p_discovery::v4::Discv4Handle;

use super::config::RecordFilter;
use super::sources::NodeSender;
use super::{DialCandidate, ServerHandle};

impl ServerHandle {
    /// Dials the nodes listed in the DNS trees at `urls` (and the trees they link to), looked
    /// up through `resolver` (`ethp2p_discovery::dns::UdpResolver` for a server you name, or
    /// `HickoryResolver`, feature `dns-resolver`, for the system's configuration). The
    /// trees are walked only as fast as the dialer takes candidates, within `config`'s rate
    /// limit; records without an IP and TCP port are not dialed. Works with or without discv4;
    /// with it, every record with a UDP port is also pinged, which seeds the discovery table
    /// with the nodes that answer. Records the discovery configuration's `record_filter`
    /// rejects are skipped.
    pub fn add_dns_discovery<R>(&self, resolver: R, urls: &[LinkEntry], config: ClientConfig)
    where
        R: Resolver + Send + Sync + 'static,
    {
        let nodes = NodeIterator::new(resolver, config, rand::random(), urls);
        let source = self.add_node_source("dns");
        let filter = (self.inner.config.discovery.as_ref())
            .and_then(|discovery| discovery.record_filter.clone());
        self.inner
            .tasks
            .spawn(feed(nodes, source, self.discv4(), filter));
    }
}

async fn feed<R: Resolver>(
    mut nodes: NodeIterator<R>,
    source: NodeSender,
    discovery: Option<Discv4Handle>,
    filter: Option<RecordFilter>,
) {
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
        if filter.as_ref().is_some_and(|filter| !filter.keeps(&record)) {
            tracing::debug!(%record, "DNS tree node left out by the record filter");
            continue;
        }
        let Some(enode) = record.to_enode() else {
            tracing::debug!(%record, "DNS tree node without an IP: skipped");
            continue;
        };
        if let Some(discovery) = &discovery
            && enode.udp_port != 0
        {
            // Stopped only when the server stops, which ends this task too.
            let _ = discovery.ping(enode).await;
        }
        if let Some(candidate) = DialCandidate::from_record(&record) {
            slot.send(candidate);
        } else {
            tracing::debug!(%record, "DNS tree node without a TCP port: not dialed");
        }
    }
}
