//! A worker's shard: its connection slab, timers, inbox and event loop.

mod cross;
mod slab;
mod timers;
mod topics;
mod worker;

pub(crate) use cross::{Command, Mailbox};
pub(crate) use timers::Timers;
pub(crate) use topics::Topics;
pub(crate) use worker::spawn_workers;
