//! A worker's shard: its connection slab, timers, inbox and event loop.

mod cross;
mod slab;
mod timers;
mod worker;

pub(crate) use cross::{Command, Mailbox};
pub(crate) use timers::Timers;
pub(crate) use worker::spawn_workers;
