//! The embedding API: [`Server::builder`], [`ServerHandle`], and the
//! connection-facing types ([`Handler`], [`Conn`], [`Message`]…), which are
//! defined in `conn/` and re-exported here.

mod builder;
mod handle;
mod tls_config;

pub use builder::{Builder, Server};
pub use handle::{NoSuchWorker, ServerHandle, Stats};
pub use tls_config::TlsConfig;

pub use crate::conn::{Accept, Conn, ConnId, Handler, Message, Reject, SendStatus};
pub use crate::shard::DIRECT_RECV_MIN;
