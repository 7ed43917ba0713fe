//! The connection state machine, quinn-style: no sockets, no ring, no clock.
//!
//! The worker feeds it received bytes (`handle_data`), large frames' bytes
//! received straight into a lent message buffer (`take_direct` /
//! `handle_direct`), send completions
//! (`handle_sent`), the peer's end of stream (`handle_eof`) and deadlines
//! (`handle_timeout(now)`); it answers by queueing bytes in its
//! send queue and setting [`state::Flags`] that tell the worker
//! what to do with the socket (send, half-close, release).

mod held;
mod loans;
mod recv;
mod send;
mod state;

pub(crate) use loans::{Current, Loans};
pub(crate) use recv::{Lend, RxConfig};
pub(crate) use send::Outgoing;
pub(crate) use state::{ConnCore, Connection, Flags};

#[cfg(test)]
mod tests;
