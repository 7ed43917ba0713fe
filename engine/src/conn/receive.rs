//! A connection's receive as one state: which receive is armed (the
//! multishot into the buffer ring, a short one-shot for a frame header, a
//! one-shot straight into a message buffer), what is being cancelled and
//! why, and whether reading is paused, stopping or over.
//!
//! The worker never decides any of this. It tells the state what happened
//! (a receive ended, a direct receive completed, an arm succeeded or was
//! refused) and executes the [`Step`] the state returns: arm, cancel or
//! stop. Which kind of receive to arm is chosen by the connection
//! (`Connection::plan_receive`), since it depends on the frame in progress.

use crate::reactor::RecvEnd;

/// The receive state of one connection.
///
/// "Armed" states have an operation in the reactor whose final completion
/// is still to come: the connection is not released while in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recv {
    /// Nothing armed; the next settle arms a receive. `large`: the last
    /// frame was received directly, so the next header is read with a
    /// short receive first; `after_short`: a short receive just ended (the
    /// header it read is judged by size, not continued as a large frame).
    Unarmed { large: bool, after_short: bool },
    /// The multishot receive into the buffer ring is armed.
    Multishot,
    /// The multishot is being cancelled so that the rest of a large frame
    /// can be received straight into its message buffer.
    ToDirect,
    /// A short one-shot (a frame header's worth, from the ring) is armed;
    /// it ends by itself.
    Short,
    /// A one-shot into the lent message buffer is armed.
    Direct,
    /// The armed receive is being cancelled for backpressure.
    Pausing { large: bool },
    /// Paused for backpressure with nothing armed; armed again once the
    /// queue drains, or, if `peer_ended`, the end of stream that came while
    /// paused is acted on then (after the held events).
    Paused { large: bool, peer_ended: bool },
    /// A stop was issued; its final completion is due.
    Stopping,
    /// Nothing armed and nothing will be: the peer ended, the receive was
    /// stopped, or arming failed.
    Ended,
}

/// What the worker must do for a connection's receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing.
    Idle,
    /// Arm a receive (the connection plans which).
    Arm,
    /// Cancel the armed receive, keeping the socket registered
    /// (`Reactor::pause_recv`); its final completion follows.
    Cancel,
    /// Stop receiving for good (`Reactor::stop_recv`).
    Stop,
    /// The peer ended the stream: the connection handles it.
    PeerEnded,
}

/// The kind of receive the worker armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Armed {
    Multishot,
    Short,
    Direct,
}

impl Default for Recv {
    fn default() -> Self {
        Recv::Unarmed {
            large: false,
            after_short: false,
        }
    }
}

impl Recv {
    /// Whether a receive's final completion is still due.
    pub(crate) fn is_armed(self) -> bool {
        matches!(
            self,
            Recv::Multishot
                | Recv::ToDirect
                | Recv::Short
                | Recv::Direct
                | Recv::Pausing { .. }
                | Recv::Stopping
        )
    }

    /// Whether the last frame came directly (see [`Recv::Unarmed`]).
    fn large(self) -> bool {
        match self {
            Recv::Short | Recv::Direct => true,
            Recv::Unarmed { large, .. } | Recv::Pausing { large } | Recv::Paused { large, .. } => {
                large
            }
            _ => false,
        }
    }

    /// The planned receive to arm: `(large, after_short)`.
    pub(crate) fn plan(self) -> (bool, bool) {
        match self {
            Recv::Unarmed { large, after_short } => (large, after_short),
            s => (s.large(), false),
        }
    }

    /// The worker armed a receive of this kind.
    pub(crate) fn armed(&mut self, kind: Armed) {
        debug_assert!(matches!(self, Recv::Unarmed { .. }), "armed from {self:?}");
        *self = match kind {
            Armed::Multishot => Recv::Multishot,
            Armed::Short => Recv::Short,
            Armed::Direct => Recv::Direct,
        };
    }

    /// Arming failed: the connection is abandoned, nothing is armed.
    pub(crate) fn arm_failed(&mut self) {
        *self = Recv::Ended;
    }

    /// The armed receive's final completion came (`end` says why).
    /// `dead`: the connection is being abandoned (no end of stream is
    /// reported and nothing is armed again).
    pub(crate) fn ended(&mut self, end: RecvEnd, dead: bool) -> Step {
        let rearm = end == RecvEnd::Rearm;
        let cancelled = end == RecvEnd::Error(libc::ECANCELED);
        let (next, step) = match *self {
            _ if dead => (Recv::Ended, Step::Idle),
            Recv::Stopping | Recv::Ended => (Recv::Ended, Step::Idle),
            // Paused: the held bytes come first; a real end waits for them.
            Recv::Pausing { large } => (
                Recv::Paused {
                    large,
                    peer_ended: !(rearm || cancelled),
                },
                Step::Idle,
            ),
            Recv::ToDirect if rearm || cancelled => (Recv::default(), Step::Idle),
            Recv::Short if rearm => (
                Recv::Unarmed {
                    large: true,
                    after_short: true,
                },
                Step::Idle,
            ),
            s @ (Recv::Multishot | Recv::Direct) if rearm => (
                Recv::Unarmed {
                    large: s.large(),
                    after_short: false,
                },
                Step::Idle,
            ),
            // The peer may only have half-closed: what is queued is still
            // flushed before the connection goes.
            _ => (Recv::Ended, Step::PeerEnded),
        };
        *self = next;
        step
    }

    /// A direct receive completed with bytes (it has ended).
    pub(crate) fn direct_done(&mut self) {
        *self = match *self {
            Recv::Direct => Recv::Unarmed {
                large: true,
                after_short: false,
            },
            Recv::Pausing { large } => Recv::Paused {
                large,
                peer_ended: false,
            },
            Recv::Stopping => Recv::Ended,
            s => {
                debug_assert!(false, "direct completion in {s:?}");
                s
            }
        };
    }

    /// Settle the receive against the connection's needs: `pause` (at the
    /// send-buffer limit or events held) and `direct` (a large frame has
    /// begun and would rather skip the ring).
    pub(crate) fn poll(&mut self, pause: bool, direct: bool) -> Step {
        let (next, step) = match (*self, pause) {
            (s @ (Recv::Multishot | Recv::Short | Recv::Direct), true) => {
                (Recv::Pausing { large: s.large() }, Step::Cancel)
            }
            // Its cancel is already on the way; it now ends a pause.
            (Recv::ToDirect, true) => (Recv::Pausing { large: false }, Step::Idle),
            (Recv::Unarmed { large, .. }, true) => (
                Recv::Paused {
                    large,
                    peer_ended: false,
                },
                Step::Idle,
            ),
            (
                Recv::Paused {
                    peer_ended: true, ..
                },
                false,
            ) => (Recv::Ended, Step::PeerEnded),
            (Recv::Paused { large, .. }, false) => (
                Recv::Unarmed {
                    large,
                    after_short: false,
                },
                Step::Arm,
            ),
            (s @ Recv::Unarmed { .. }, false) => (s, Step::Arm),
            (Recv::Multishot, false) if direct => (Recv::ToDirect, Step::Cancel),
            (s, _) => (s, Step::Idle),
        };
        *self = next;
        step
    }

    /// The connection is abandoned: stop an armed receive.
    pub(crate) fn stop(&mut self) -> Step {
        let (next, step) = match *self {
            Recv::Stopping => (Recv::Stopping, Step::Idle),
            s if s.is_armed() => (Recv::Stopping, Step::Stop),
            _ => (Recv::Ended, Step::Idle),
        };
        *self = next;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANCELED: RecvEnd = RecvEnd::Error(libc::ECANCELED);
    const RESET: RecvEnd = RecvEnd::Error(libc::ECONNRESET);

    fn unarmed(large: bool, after_short: bool) -> Recv {
        Recv::Unarmed { large, after_short }
    }

    fn paused(large: bool, peer_ended: bool) -> Recv {
        Recv::Paused { large, peer_ended }
    }

    /// `(start, pause, direct, step, next)` for [`Recv::poll`].
    #[test]
    fn poll_table() {
        use Recv::*;
        let cases = [
            (
                unarmed(false, false),
                false,
                false,
                Step::Arm,
                unarmed(false, false),
            ),
            (
                unarmed(true, true),
                false,
                true,
                Step::Arm,
                unarmed(true, true),
            ),
            (
                unarmed(true, false),
                true,
                false,
                Step::Idle,
                paused(true, false),
            ),
            (Multishot, false, false, Step::Idle, Multishot),
            (Multishot, false, true, Step::Cancel, ToDirect),
            (
                Multishot,
                true,
                true,
                Step::Cancel,
                Pausing { large: false },
            ),
            (Short, true, false, Step::Cancel, Pausing { large: true }),
            (Short, false, true, Step::Idle, Short),
            (Direct, true, false, Step::Cancel, Pausing { large: true }),
            (Direct, false, true, Step::Idle, Direct),
            (ToDirect, false, true, Step::Idle, ToDirect),
            (ToDirect, true, false, Step::Idle, Pausing { large: false }),
            (
                Pausing { large: true },
                false,
                false,
                Step::Idle,
                Pausing { large: true },
            ),
            (
                Pausing { large: true },
                true,
                false,
                Step::Idle,
                Pausing { large: true },
            ),
            (
                paused(true, false),
                true,
                false,
                Step::Idle,
                paused(true, false),
            ),
            (
                paused(true, false),
                false,
                false,
                Step::Arm,
                unarmed(true, false),
            ),
            (
                paused(false, true),
                true,
                false,
                Step::Idle,
                paused(false, true),
            ),
            (paused(false, true), false, false, Step::PeerEnded, Ended),
            (Stopping, false, true, Step::Idle, Stopping),
            (Ended, false, true, Step::Idle, Ended),
        ];
        for (start, pause, direct, step, next) in cases {
            let mut s = start;
            assert_eq!(
                s.poll(pause, direct),
                step,
                "{start:?} pause={pause} direct={direct}"
            );
            assert_eq!(s, next, "{start:?} pause={pause} direct={direct}");
        }
    }

    /// `(start, end, dead, step, next)` for [`Recv::ended`].
    #[test]
    fn ended_table() {
        use Recv::*;
        let cases = [
            (
                Multishot,
                RecvEnd::Rearm,
                false,
                Step::Idle,
                unarmed(false, false),
            ),
            (Multishot, RecvEnd::Eof, false, Step::PeerEnded, Ended),
            (Multishot, RESET, false, Step::PeerEnded, Ended),
            (Multishot, RecvEnd::Eof, true, Step::Idle, Ended),
            (
                Short,
                RecvEnd::Rearm,
                false,
                Step::Idle,
                unarmed(true, true),
            ),
            (Short, RecvEnd::Eof, false, Step::PeerEnded, Ended),
            (
                Direct,
                RecvEnd::Rearm,
                false,
                Step::Idle,
                unarmed(true, false),
            ),
            (Direct, RecvEnd::Eof, false, Step::PeerEnded, Ended),
            (ToDirect, CANCELED, false, Step::Idle, unarmed(false, false)),
            (
                ToDirect,
                RecvEnd::Rearm,
                false,
                Step::Idle,
                unarmed(false, false),
            ),
            (ToDirect, RecvEnd::Eof, false, Step::PeerEnded, Ended),
            (
                Pausing { large: true },
                CANCELED,
                false,
                Step::Idle,
                paused(true, false),
            ),
            (
                Pausing { large: false },
                RecvEnd::Rearm,
                false,
                Step::Idle,
                paused(false, false),
            ),
            (
                Pausing { large: false },
                RecvEnd::Eof,
                false,
                Step::Idle,
                paused(false, true),
            ),
            (
                Pausing { large: false },
                RESET,
                false,
                Step::Idle,
                paused(false, true),
            ),
            (
                Pausing { large: false },
                RecvEnd::Eof,
                true,
                Step::Idle,
                Ended,
            ),
            (Stopping, CANCELED, true, Step::Idle, Ended),
            (Stopping, RecvEnd::Eof, false, Step::Idle, Ended),
        ];
        for (start, end, dead, step, next) in cases {
            let mut s = start;
            assert_eq!(s.ended(end, dead), step, "{start:?} {end:?} dead={dead}");
            assert_eq!(s, next, "{start:?} {end:?} dead={dead}");
        }
    }

    #[test]
    fn armed_states_are_the_ones_with_a_completion_due() {
        use Recv::*;
        for s in [
            Multishot,
            ToDirect,
            Short,
            Direct,
            Pausing { large: true },
            Stopping,
        ] {
            assert!(s.is_armed(), "{s:?}");
            let mut t = s;
            let want = if s == Stopping {
                Step::Idle
            } else {
                Step::Stop
            };
            assert_eq!(t.stop(), want, "{s:?}");
            assert_eq!(t, Stopping);
        }
        for s in [unarmed(true, false), paused(true, true), Ended] {
            assert!(!s.is_armed(), "{s:?}");
            let mut t = s;
            assert_eq!(t.stop(), Step::Idle, "{s:?}");
            assert_eq!(t, Ended);
        }
    }

    /// A large frame's life: multishot, cancel to go direct, direct
    /// receives, a short receive for the next header, back to multishot.
    #[test]
    fn a_large_frame_goes_direct_and_back() {
        let mut s = Recv::default();
        assert_eq!(s.poll(false, false), Step::Arm);
        assert_eq!(s.plan(), (false, false));
        s.armed(Armed::Multishot);
        assert_eq!(s.poll(false, true), Step::Cancel);
        assert_eq!(s.ended(CANCELED, false), Step::Idle);
        assert_eq!(s.poll(false, true), Step::Arm);
        s.armed(Armed::Direct);
        s.direct_done();
        assert_eq!(s, unarmed(true, false));
        assert_eq!(s.poll(false, false), Step::Arm);
        assert_eq!(s.plan(), (true, false));
        s.armed(Armed::Short);
        assert_eq!(s.ended(RecvEnd::Rearm, false), Step::Idle);
        assert_eq!(s.plan(), (true, true));
        assert_eq!(s.poll(false, false), Step::Arm);
        s.armed(Armed::Multishot);
        assert_eq!(s.plan(), (false, false));
        // A direct receive paused by backpressure completes with bytes:
        // paused, armed again (still large) once drained.
        let mut s = Recv::Direct;
        assert_eq!(s.poll(true, false), Step::Cancel);
        s.direct_done();
        assert_eq!(s, paused(true, false));
        assert_eq!(s.poll(false, false), Step::Arm);
        assert_eq!(s.plan(), (true, false));
        // Stopped mid-direct.
        let mut s = Recv::Direct;
        assert_eq!(s.stop(), Step::Stop);
        s.direct_done();
        assert_eq!(s, Recv::Ended);
        let mut s = Recv::default();
        s.arm_failed();
        assert_eq!(s, Recv::Ended);
    }
}
