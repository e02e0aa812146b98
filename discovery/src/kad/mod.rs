//! What discv4 and discv5 share: the Kademlia node table, iterative lookups and the prediction
//! of our external endpoint from what peers report
//! ([discv4.md, "Kademlia Table"](https://github.com/ethereum/devp2p/blob/master/discv4.md#kademlia-table),
//! [discv5-theory.md, "Nodes, Records and Distances"](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-theory.md#nodes-records-and-distances)).
//!
//! All of it is generic over the [`Contact`] it stores: discv4 keeps [`Enode`](crate::Enode)s,
//! discv5 its records with the address they are reached at. Nothing here knows a wire format.

mod endpoint_votes;
mod lookup;
mod table;

pub use endpoint_votes::{EndpointVotes, MIN_VOTES, VOTE_WINDOW};
pub use lookup::{Lookup, LookupId};
pub use table::{
    AddOutcome, BUCKET_IP_LIMIT, BUCKET_SIZE, Contact, MAX_REPLACEMENTS, TABLE_IP_LIMIT, Table,
    TableNode,
};
