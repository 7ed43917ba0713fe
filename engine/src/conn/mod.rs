//! The connection state machine, quinn-style: no sockets, no ring, no clock.
//!
//! The worker feeds it received bytes (`handle_data`), large frames' bytes
//! received straight into a lent message buffer (`take_direct` /
//! `handle_direct`), send completions
//! (`handle_sent`), the peer's end of stream (`handle_eof`) and deadlines
//! (`handle_timeout(now)`); it answers by queueing bytes in its send
//! queue, by moving its socket's wind-down ([`state::Teardown`]: half-close,
//! release), and by the receive steps it returns (`poll_recv`,
//! `plan_receive`: arm, cancel, stop; see `receive.rs`), which the worker
//! executes without looking at the receive state itself.

mod api;
mod budget;
mod ctx;
mod deflate;
mod held;
mod loans;
mod receive;
mod recv;
mod send;
mod state;
mod timers;
mod tls;
mod topics;
mod transport;

pub(crate) use api::encode_frame;
pub use api::{Accept, Conn, ConnId, Handler, Message, Reject, SendStatus};
pub(crate) use budget::{default_budget, Budget, Pressure, PAUSE_MIN};
pub(crate) use ctx::{ConnCtx, Fanout, Limits, LocalStats};
pub(crate) use deflate::{FanoutCache, WorkerDeflate};
pub(crate) use loans::{Current, Loans};
pub(crate) use receive::{Armed, Step};
pub(crate) use recv::RxConfig;
pub(crate) use state::{ConnCore, Connection, Flags, Plan, Teardown};
pub(crate) use timers::Timers;
pub(crate) use tls::{TlsAcceptor, TlsCurrent};
pub(crate) use topics::Topics;
pub(crate) use transport::Transport;

#[cfg(test)]
mod tests;
