//! A worker's shard: its connection slab, inbox, the state every thread
//! shares, the configuration and the event loop.

mod cluster;
mod config;
mod cross;
mod shared;
mod slab;
mod worker;

pub(crate) use cluster::{deliver, Cluster};
pub(crate) use config::Config;
pub use config::DIRECT_RECV_MIN;
pub(crate) use cross::{Command, Mailbox};
pub(crate) use shared::{Shared, TlsShared};
pub(crate) use worker::spawn_workers;
