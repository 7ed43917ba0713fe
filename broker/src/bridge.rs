//! The node's bridge: one thread between the workers and the broker.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::broker::Broker;
use crate::envelope::{self, Kind, HEADER_LEN};
use crate::redis::{RedisBroker, RedisOptions};
use crate::wake::{pollfd, wait, Waker};

/// Topics per `SUBSCRIBE` / `UNSUBSCRIBE` request.
const TOPICS_PER_REQUEST: usize = 512;
/// Publishes moved from the queue to the broker per turn of the loop.
const PUBLISHES_PER_TURN: usize = 4096;
/// Messages delivered per turn of the loop (then queued publishes go out).
const MESSAGES_PER_TURN: usize = 1024;
/// Longest sleep when nothing happens (the broker may wake earlier for its
/// own keep-alive).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Settings of a [`Bridge`].
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Broker URL, e.g. `redis://127.0.0.1:6379`.
    pub url: String,
    /// This node's id, written into every envelope; messages carrying it are
    /// not delivered back. Must differ between the nodes on one broker.
    pub node_id: u64,
    /// Publishes waiting for the bridge thread, at most.
    pub publish_queue: usize,
    /// Bytes (envelope and topic) waiting for the bridge thread, at most.
    pub publish_queue_bytes: usize,
    /// First wait after a failed or lost connection; doubles per failure.
    pub backoff_min: Duration,
    /// Longest wait between connection attempts.
    pub backoff_max: Duration,
    /// Connection settings (timeouts, buffer and message bounds).
    pub redis: RedisOptions,
}

impl BridgeConfig {
    /// Defaults for `url` with a random node id: 65,536 queued publishes or
    /// 64 MiB, backoff 50 ms doubling up to 2 s.
    pub fn new(url: impl Into<String>) -> BridgeConfig {
        BridgeConfig {
            url: url.into(),
            node_id: random_node_id(),
            publish_queue: 65_536,
            publish_queue_bytes: 64 << 20,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            redis: RedisOptions::default(),
        }
    }
}

/// A random node id (from the OS's random source).
pub fn random_node_id() -> u64 {
    let mut b = [0u8; 8];
    // Without randomness fall back to something that still differs between
    // processes and runs.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ ((std::process::id() as u64) << 32);
    }
    u64::from_ne_bytes(b)
}

/// Counters of a [`Bridge`], read with [`Bridge::stats`].
///
/// Every accepted publish ends as exactly one of `published` or `dropped`
/// (once the bridge is quiet), and every publish call that returned `false`
/// is in `dropped` too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Publishes the broker acknowledged.
    pub published: u64,
    /// Messages from other nodes handed to the deliver callback.
    pub delivered: u64,
    /// Publishes lost: refused by a full queue or while the broker was away,
    /// in flight when a connection was lost (some of these may still have
    /// reached the broker: their fate is unknown), or refused by the broker.
    pub dropped: u64,
    /// Messages from the broker that were not valid envelopes (ignored).
    pub malformed: u64,
    /// This node's own messages coming back from the broker (ignored).
    pub own: u64,
    /// Successful connections after a lost one.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Whether the bridge is connected to the broker now.
    pub connected: bool,
    /// Topics with at least one local subscriber.
    pub topics: usize,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    malformed: AtomicU64,
    own: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// Local subscriber counts, and the topics whose count crossed zero since
/// the bridge thread last looked.
#[derive(Default)]
struct Topics {
    /// Invariant: an entry with count 0 is in `dirty` (the bridge removes it).
    counts: HashMap<Box<str>, u32>,
    dirty: HashSet<Box<str>>,
}

/// A publish on its way to the bridge thread.
struct Outgoing {
    topic: Box<str>,
    envelope: Vec<u8>,
}

impl Outgoing {
    fn size(&self) -> usize {
        self.topic.len() + self.envelope.len()
    }
}

struct Shared {
    node: u64,
    topics: Mutex<Topics>,
    tx: SyncSender<Outgoing>,
    queued_bytes: AtomicUsize,
    max_queued_bytes: usize,
    connected: AtomicBool,
    stop: AtomicBool,
    waker: Waker,
    counters: Counters,
}

impl Shared {
    fn topics(&self) -> MutexGuard<'_, Topics> {
        // The lock guards plain counts; a panic elsewhere cannot leave them
        // half-updated, so a poisoned lock is still usable.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn drop_publish(&self, msg: Outgoing) {
        self.queued_bytes.fetch_sub(msg.size(), Ordering::Relaxed);
        add(&self.counters.dropped, 1);
    }
}

/// The node's link to the broker: one thread, bounded queues, reconnects.
///
/// Every method except [`shutdown`](Bridge::shutdown) returns without waiting
/// on the network and may be called from any thread (share the bridge with
/// `Arc`). See the [crate docs](crate) for the data flow.
pub struct Bridge {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("node_id", &self.shared.node)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Bridge {
    /// Starts the bridge thread for a Redis broker at `config.url`. Fails only
    /// on a bad URL or when the thread cannot start: an unreachable Redis is
    /// retried in the background.
    ///
    /// `deliver(topic, kind, payload)` runs on the bridge thread for every
    /// message another node published to a topic this node subscribes to. It
    /// must not block: while it runs, nothing else moves (hand the message to
    /// bounded queues and return).
    pub fn start<F>(config: BridgeConfig, deliver: F) -> io::Result<Bridge>
    where
        F: FnMut(&str, Kind, &[u8]) + Send + 'static,
    {
        let mut options = config.redis.clone();
        if options.client_name.is_none() {
            options.client_name = Some(format!("ringws-{:016x}", config.node_id));
        }
        let broker = RedisBroker::new(&config.url, options)?;
        Bridge::start_with(broker, &config, deliver)
    }

    /// Starts the bridge thread over any [`Broker`]; `config.url` and
    /// `config.redis` are not used.
    pub fn start_with<B, F>(broker: B, config: &BridgeConfig, deliver: F) -> io::Result<Bridge>
    where
        B: Broker + 'static,
        F: FnMut(&str, Kind, &[u8]) + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(config.publish_queue.max(1));
        let shared = Arc::new(Shared {
            node: config.node_id,
            topics: Mutex::new(Topics::default()),
            tx,
            queued_bytes: AtomicUsize::new(0),
            max_queued_bytes: config.publish_queue_bytes,
            connected: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            waker: Waker::new()?,
            counters: Counters::default(),
        });
        let backoff = (
            config.backoff_min,
            config.backoff_max.max(config.backoff_min),
        );
        let thread_shared = shared.clone();
        let thread = thread::Builder::new()
            .name("ringws-bridge".into())
            .spawn(move || Worker::new(thread_shared, broker, rx, backoff, deliver).run())?;
        let thread_id = thread.thread().id();
        Ok(Bridge {
            shared,
            thread: Mutex::new(Some(thread)),
            thread_id,
        })
    }

    /// This node's id (in every envelope it publishes).
    pub fn node_id(&self) -> u64 {
        self.shared.node
    }

    /// Adds a local subscriber to `topic`; returns the node's count for it.
    /// The first one makes the bridge subscribe on the broker.
    pub fn subscribe(&self, topic: &str) -> u32 {
        let count = {
            let mut t = self.shared.topics();
            let count = match t.counts.get_mut(topic) {
                Some(c) => {
                    *c += 1;
                    *c
                }
                None => {
                    t.counts.insert(topic.into(), 1);
                    1
                }
            };
            if count == 1 {
                t.dirty.insert(topic.into());
            }
            count
        };
        if count == 1 {
            self.shared.waker.wake();
        }
        count
    }

    /// Removes a local subscriber from `topic`; returns the node's count left.
    /// The last one makes the bridge unsubscribe on the broker. A topic
    /// without subscribers is left alone (returns 0).
    pub fn unsubscribe(&self, topic: &str) -> u32 {
        let count = {
            let mut t = self.shared.topics();
            let Some(c) = t.counts.get_mut(topic) else {
                return 0;
            };
            if *c == 0 {
                return 0;
            }
            *c -= 1;
            let count = *c;
            if count == 0 {
                t.dirty.insert(topic.into());
            }
            count
        };
        if count == 0 {
            self.shared.waker.wake();
        }
        count
    }

    /// The node's local subscriber count for `topic`.
    pub fn subscribers(&self, topic: &str) -> u32 {
        self.shared.topics().counts.get(topic).copied().unwrap_or(0)
    }

    /// Queues `payload` for every other node subscribed to `topic`. `false`:
    /// dropped (and counted), because the broker is away or the queue is
    /// full. Never blocks; copies the payload once.
    pub fn publish(&self, topic: &str, kind: Kind, payload: &[u8]) -> bool {
        let s = &*self.shared;
        if !s.connected.load(Ordering::Acquire) || s.stop.load(Ordering::Relaxed) {
            add(&s.counters.dropped, 1);
            return false;
        }
        let size = topic.len() + HEADER_LEN + payload.len();
        let before = s.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if before + size > s.max_queued_bytes {
            s.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            add(&s.counters.dropped, 1);
            return false;
        }
        let msg = Outgoing {
            topic: topic.into(),
            envelope: envelope::encode(s.node, kind, payload),
        };
        match s.tx.try_send(msg) {
            Ok(()) => {
                s.waker.wake();
                true
            }
            Err(TrySendError::Full(msg) | TrySendError::Disconnected(msg)) => {
                s.drop_publish(msg);
                false
            }
        }
    }

    /// The bridge's counters now.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let topics = self
            .shared
            .topics()
            .counts
            .values()
            .filter(|&&n| n > 0)
            .count();
        Stats {
            published: c.published.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            own: c.own.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            connected: self.shared.connected.load(Ordering::Acquire),
            topics,
        }
    }

    /// Stops the bridge thread and closes the connection; publishes still
    /// queued are dropped (and counted). Waits for the thread, except when
    /// called from the deliver callback (it then stops after the callback).
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.connected.store(false, Ordering::Release);
        self.shared.waker.wake();
        if thread::current().id() == self.thread_id {
            return;
        }
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("the bridge thread panicked");
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The bridge thread's state.
struct Worker<B, F> {
    shared: Arc<Shared>,
    broker: B,
    rx: Receiver<Outgoing>,
    deliver: F,
    /// Topics subscribed on the current connection (empty while away).
    on_broker: HashSet<Box<str>>,
    /// A publish the broker had no room for yet.
    held: Option<Outgoing>,
    backoff: Duration,
    backoff_range: (Duration, Duration),
    next_attempt: Instant,
    ever_connected: bool,
    /// Whether a failed attempt was already logged at warn level.
    warned: bool,
}

impl<B: Broker, F: FnMut(&str, Kind, &[u8])> Worker<B, F> {
    fn new(
        shared: Arc<Shared>,
        broker: B,
        rx: Receiver<Outgoing>,
        backoff_range: (Duration, Duration),
        deliver: F,
    ) -> Self {
        Worker {
            shared,
            broker,
            rx,
            deliver,
            on_broker: HashSet::new(),
            held: None,
            backoff: backoff_range.0,
            backoff_range,
            next_attempt: Instant::now(),
            ever_connected: false,
            warned: false,
        }
    }

    fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            if self.shared.connected.load(Ordering::Acquire) {
                if let Err(e) = self.turn() {
                    self.lost(e);
                }
            } else if Instant::now() >= self.next_attempt {
                self.try_connect();
            } else {
                self.away();
            }
        }
        let c = &self.shared.counters;
        add(&c.dropped, self.broker.disconnect());
        if let Some(msg) = self.held.take() {
            self.shared.drop_publish(msg);
        }
        while let Ok(msg) = self.rx.try_recv() {
            self.shared.drop_publish(msg);
        }
    }

    fn try_connect(&mut self) {
        let result = self.broker.connect().and_then(|()| {
            // Subscribe every live topic again (the connection starts with
            // none), in batches.
            let live: Vec<Box<str>> = {
                let mut t = self.shared.topics();
                let Topics { counts, dirty } = &mut *t;
                counts.retain(|_, n| *n > 0);
                dirty.clear();
                counts.keys().cloned().collect()
            };
            for chunk in live.chunks(TOPICS_PER_REQUEST) {
                let names: Vec<&str> = chunk.iter().map(|t| &**t).collect();
                self.broker.subscribe(&names)?;
            }
            self.on_broker = live.into_iter().collect();
            Ok(())
        });
        match result {
            Ok(()) => {
                if self.ever_connected {
                    add(&self.shared.counters.reconnects, 1);
                }
                tracing::info!(
                    topics = self.on_broker.len(),
                    "bridge connected to the broker"
                );
                self.ever_connected = true;
                self.warned = false;
                self.backoff = self.backoff_range.0;
                self.shared.connected.store(true, Ordering::Release);
            }
            Err(e) => {
                add(&self.shared.counters.connect_failures, 1);
                add(&self.shared.counters.dropped, self.broker.disconnect());
                self.on_broker.clear();
                if !self.warned {
                    tracing::warn!(
                        "bridge cannot reach the broker ({e}); retrying up to every {:?}",
                        self.backoff_range.1
                    );
                    self.warned = true;
                } else {
                    tracing::debug!("bridge connection attempt failed: {e}");
                }
                self.schedule_retry();
            }
        }
    }

    fn schedule_retry(&mut self) {
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.backoff_range.1);
    }

    fn lost(&mut self, e: io::Error) {
        tracing::warn!("bridge lost the broker: {e}");
        self.shared.connected.store(false, Ordering::Release);
        add(&self.shared.counters.dropped, self.broker.disconnect());
        if let Some(msg) = self.held.take() {
            self.shared.drop_publish(msg);
        }
        self.on_broker.clear();
        self.backoff = self.backoff_range.0;
        self.schedule_retry();
    }

    /// While away: drop what is queued, keep the topic table tidy, and sleep
    /// until the next attempt or a call.
    fn away(&mut self) {
        self.shared.waker.reset();
        while let Ok(msg) = self.rx.try_recv() {
            self.shared.drop_publish(msg);
        }
        {
            let mut t = self.shared.topics();
            let Topics { counts, dirty } = &mut *t;
            for topic in dirty.drain() {
                if counts.get(&topic) == Some(&0) {
                    counts.remove(&topic);
                }
            }
        }
        let left = self.next_attempt.saturating_duration_since(Instant::now());
        let mut fds = [pollfd(self.shared.waker.fd(), libc::POLLIN)];
        if let Err(e) = wait(&mut fds, left) {
            tracing::error!("bridge wait failed: {e}");
            thread::sleep(left.min(Duration::from_millis(10)));
        }
    }

    /// One turn while connected: topic changes, queued publishes, then send,
    /// wait and read.
    fn turn(&mut self) -> io::Result<()> {
        self.shared.waker.reset();
        self.sync_topics()?;

        let mut more = false;
        let mut moved = 0;
        while let Some(msg) = self.held.take().or_else(|| self.rx.try_recv().ok()) {
            if !self.broker.publish(&msg.topic, &msg.envelope)? {
                self.held = Some(msg);
                break;
            }
            self.shared
                .queued_bytes
                .fetch_sub(msg.size(), Ordering::Relaxed);
            moved += 1;
            if moved == PUBLISHES_PER_TURN {
                more = true;
                break;
            }
        }

        let timeout = if more { Duration::ZERO } else { IDLE_WAIT };
        let shared = &*self.shared;
        let deliver = &mut self.deliver;
        let turn = self.broker.poll(
            timeout,
            shared.waker.fd(),
            MESSAGES_PER_TURN,
            &mut |topic, bytes| match envelope::decode(bytes) {
                Err(why) => {
                    add(&shared.counters.malformed, 1);
                    tracing::debug!(topic, ?why, "malformed envelope from the broker");
                }
                Ok(env) if env.node == shared.node => add(&shared.counters.own, 1),
                Ok(env) => {
                    add(&shared.counters.delivered, 1);
                    deliver(topic, env.kind, env.payload);
                }
            },
        )?;
        add(&shared.counters.published, turn.confirmed);
        add(&shared.counters.dropped, turn.rejected);
        Ok(())
    }

    /// Sends one SUBSCRIBE and one UNSUBSCRIBE batch for the topics whose
    /// count crossed zero.
    fn sync_topics(&mut self) -> io::Result<()> {
        let (add_topics, remove_topics) = {
            let mut t = self.shared.topics();
            if t.dirty.is_empty() {
                return Ok(());
            }
            let Topics { counts, dirty } = &mut *t;
            let mut add_topics = Vec::new();
            let mut remove_topics = Vec::new();
            for topic in dirty.drain() {
                let live = counts.get(&topic).is_some_and(|&n| n > 0);
                if !live {
                    counts.remove(&topic);
                }
                match (live, self.on_broker.contains(&topic)) {
                    (true, false) => add_topics.push(topic),
                    (false, true) => remove_topics.push(topic),
                    _ => {}
                }
            }
            (add_topics, remove_topics)
        };
        for chunk in add_topics.chunks(TOPICS_PER_REQUEST) {
            let names: Vec<&str> = chunk.iter().map(|t| &**t).collect();
            self.broker.subscribe(&names)?;
        }
        for chunk in remove_topics.chunks(TOPICS_PER_REQUEST) {
            let names: Vec<&str> = chunk.iter().map(|t| &**t).collect();
            self.broker.unsubscribe(&names)?;
        }
        for topic in remove_topics {
            self.on_broker.remove(&topic);
        }
        self.on_broker.extend(add_topics);
        Ok(())
    }
}
