//! `ringws`: the engine as a standalone echo, broadcast or pub/sub server.
//!
//! `cargo run --release` listens on 127.0.0.1:9001 and echoes every
//! message. `--mode pubsub` makes it a fan-out server: a client of
//! `ws://HOST:PORT/topic/NAME` is subscribed to `NAME` and what it sends
//! goes to the topic's other subscribers, on every node joined by
//! `--redis`. `--tls-cert`/`--tls-key` serve `wss://` (on `--bind`, or on
//! `--bind-tls` beside a plain `--bind`); SIGHUP reads the certificate
//! files again. SIGINT/SIGTERM start a graceful shutdown (close 1001 to
//! every client, up to 5 s for the closing handshakes).

use std::process::ExitCode;
use std::time::Duration;

use ringws::{
    Accept, Backend, BridgeConfig, CloseCode, Compression, Conn, Handler, Message, Reject, Request,
    Server, TlsConfig,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (part of its public C API, linked in by
    /// the `mimalloc` crate; not bound without its `extended` feature).
    fn mi_option_set(option: libc::c_int, value: libc::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3).
const MI_OPTION_PURGE_DELAY: libc::c_int = 15;

/// Memory freed by finished or dropped messages goes back to the system at
/// once: mimalloc otherwise keeps freed pages for `purge_delay` ms (10, and
/// ×10 for arenas) and, on a worker that goes quiet, until its next
/// allocation, so the RSS a burst of large messages left stays
/// (docs/decisions.md, "Memory follows the bytes"). `MIMALLOC_PURGE_DELAY`
/// in the environment wins.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option store; called before the workers start.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

const USAGE: &str = "\
ringws: a thread-per-core io_uring WebSocket server (echo / broadcast / pubsub)

USAGE: ringws [OPTIONS]
  --bind ADDR               listen address            [default: 127.0.0.1:9001]
  --tls-cert FILE           serve wss:// with this PEM certificate chain
  --tls-key FILE            and this PEM private key; repeat the pair for
                            more certificates, chosen by the client's SNI
                            (no SNI: the first); SIGHUP reloads the files
  --bind-tls ADDR           serve wss:// here and plain ws:// on --bind
                            (default with --tls-cert: wss:// on --bind)
  --workers N               worker threads            [default: one per core]
  --backend B               auto | uring | epoll      [default: auto]
  --max-message-size BYTES  largest message           [default: 16777216]
  --idle-timeout SECS       ping after idle, 0 = off  [default: 120]
  --mode M                  echo | broadcast | pubsub [default: echo]
                            pubsub: ws://HOST:PORT/topic/NAME subscribes to
                            NAME (1-128 bytes of A-Z a-z 0-9 . _ : -, else
                            404); each message sent is published to NAME's
                            other subscribers
  --redis URL               pubsub: join the nodes on this Redis
                            (redis://HOST:PORT[/DB]); default: one node
  --publish-token SECRET    pubsub: publishing needs the upgrade header
                            `Authorization: Bearer SECRET`; others may only
                            subscribe (a message from them: close 1008)
  --subprotocol NAME        a subprotocol to accept (repeatable); the first
                            one the client offers that is listed is chosen
  --log LEVEL               error|warn|info|debug|trace [default: info]
  --compression C           permessage-deflate: off | shared | dedicated
                            (shared: no context takeover, one compressor and
                            inflater per worker; dedicated: per-connection
                            streams)                   [default: off]
  --window-bits S[,C]       dedicated: largest server window S and client
                            window C, 9-15             [default: 15,15]
  --recv-buffers NxSIZE     receive buffers per worker: count (power of two)
                            and bytes each [default: 8x1048576 on io_uring,
                            32x262144 on epoll]
  --whole-recv-buffers      io_uring: each receive uses up a whole buffer
                            (default: receives share buffers where the
                            kernel has IOU_PBUF_RING_INC, Linux 6.12+)
  --direct-recv-min BYTES   receive the rest of a data frame
                            straight into its message buffer once at least
                            BYTES of it are still to come; 0 = never
                            [default: 131072]
  --copy-sends              copy every payload into the send queue (default:
                            an echo of a message that arrived whole is sent
                            from its receive buffer)
  --memory-budget BYTES     bound what the server buffers for peers (partial
                            messages, send queues, receive rings), split
                            across workers; suffixes KiB MiB GiB. At 80%
                            reads of the largest partial messages pause,
                            at 100% those close with 1013 and upgrades get
                            503 [default: half the machine's memory]
  --slow-readers P          a message for a connection whose send buffer is
                            full (1 MiB) is dropped and counted; drop: only
                            that, close:N: also close with 1008 once the
                            connection has dropped N   [default: drop]
  --message-timeout SECS    close with 1008 a peer whose frame or message
                            takes longer than SECS from its first byte to
                            its last; 0 = no limit     [default: 0]
  --huge-pages              let the heap use transparent huge pages (off by
                            default: 2 MiB faults make idle memory jump in
                            2 MiB steps; see docs/decisions.md)
  -h, --help                this text
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Echo,
    Broadcast,
    PubSub,
}

struct App {
    mode: Mode,
    /// Subprotocols this server speaks; empty: select none.
    protocols: Vec<String>,
    /// Pub/sub: the bearer token publishing needs (`None`: nobody publishes).
    publish_token: Option<String>,
}

/// A pub/sub client: its topic, and whether it may publish.
#[derive(Default)]
struct Peer {
    topic: Option<Box<str>>,
    publisher: bool,
}

/// The topic of a pub/sub request path `/topic/NAME`: 1-128 bytes of
/// `[A-Za-z0-9._:-]`.
fn topic_of(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/topic/")?;
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    ok.then_some(name)
}

/// Whether `header` is `Bearer TOKEN`; compares every byte (no early exit
/// that would time the token out).
fn bearer_matches(header: Option<&[u8]>, token: &str) -> bool {
    let Some(h) = header else { return false };
    let Some(given) = h.strip_prefix(b"Bearer ") else {
        return false;
    };
    given.len() == token.len()
        && given
            .iter()
            .zip(token.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl Handler for App {
    type State = Peer;

    fn on_upgrade(&self, request: &Request) -> Result<Accept<Peer>, Reject> {
        let mut peer = Peer::default();
        if self.mode == Mode::PubSub {
            let topic = topic_of(request.path())
                .ok_or_else(|| Reject::new(404, "no such topic: use /topic/NAME"))?;
            peer.topic = Some(topic.into());
            peer.publisher = match &self.publish_token {
                Some(t) => bearer_matches(request.header("authorization"), t),
                None => true,
            };
        }
        // The client lists its protocols in order of preference: take the
        // first one we speak; none in common means none selected (RFC 6455 4.2.2).
        let chosen = request
            .protocols()
            .iter()
            .find(|p| self.protocols.contains(p));
        Ok(match chosen {
            Some(p) => Accept::new(peer).protocol(p.as_str()),
            None => Accept::new(peer),
        })
    }

    fn on_open(&self, conn: &mut Conn<'_>, peer: &mut Peer) {
        if let Some(topic) = &peer.topic {
            conn.subscribe(topic);
        }
    }

    fn on_message(&self, conn: &mut Conn<'_>, peer: &mut Peer, message: Message<'_>) {
        match self.mode {
            Mode::Echo => {
                match message {
                    Message::Text(t) => conn.send_text(t),
                    Message::Binary(b) => conn.send_binary(b),
                };
            }
            Mode::Broadcast => conn.broadcast(message),
            Mode::PubSub => match (&peer.topic, peer.publisher) {
                (Some(topic), true) => conn.publish_to_others(topic, message),
                _ => conn.close(CloseCode::POLICY, "publishing needs a token"),
            },
        }
    }
}

struct Args {
    bind: String,
    bind_tls: Option<String>,
    tls_certs: Vec<String>,
    tls_keys: Vec<String>,
    workers: Option<usize>,
    backend: Backend,
    max_message_size: usize,
    idle_timeout: u64,
    mode: Mode,
    protocols: Vec<String>,
    log: String,
    huge_pages: bool,
    recv_buffers: Option<(u16, u32)>,
    whole_recv_buffers: bool,
    direct_recv_min: Option<usize>,
    copy_sends: bool,
    redis: Option<String>,
    publish_token: Option<String>,
    memory_budget: Option<usize>,
    close_after_drops: Option<u32>,
    message_timeout: u64,
    compression: String,
    window_bits: (u8, u8),
}

/// A byte count with an optional binary suffix: `268435456`, `256MiB`,
/// `64KiB`, `2GiB` (also `K`/`M`/`G`, `KB`/`MB`/`GB` as the same powers of
/// two).
fn parse_bytes(v: &str) -> Result<usize, String> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("want a byte count like 256MiB, got {v:?}"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        u => return Err(format!("unknown unit {u:?} in {v:?} (KiB, MiB, GiB)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{v:?} is too large"))
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        bind: "127.0.0.1:9001".into(),
        bind_tls: None,
        tls_certs: Vec::new(),
        tls_keys: Vec::new(),
        workers: None,
        backend: Backend::Auto,
        max_message_size: 16 << 20,
        idle_timeout: 120,
        mode: Mode::Echo,
        protocols: Vec::new(),
        log: "info".into(),
        huge_pages: false,
        recv_buffers: None,
        whole_recv_buffers: false,
        direct_recv_min: Some(ringws::DIRECT_RECV_MIN),
        copy_sends: false,
        redis: None,
        publish_token: None,
        memory_budget: None,
        close_after_drops: None,
        message_timeout: 0,
        compression: "off".into(),
        window_bits: (15, 15),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (flag, None),
        };
        if flag == "-h" || flag == "--help" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let mut val = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bind" => a.bind = val()?,
            "--bind-tls" => a.bind_tls = Some(val()?),
            "--tls-cert" => a.tls_certs.push(val()?),
            "--tls-key" => a.tls_keys.push(val()?),
            "--workers" => a.workers = Some(val()?.parse().map_err(|e| format!("--workers: {e}"))?),
            "--backend" => a.backend = val()?.parse()?,
            "--max-message-size" => {
                a.max_message_size = val()?
                    .parse()
                    .map_err(|e| format!("--max-message-size: {e}"))?
            }
            "--idle-timeout" => {
                a.idle_timeout = val()?.parse().map_err(|e| format!("--idle-timeout: {e}"))?
            }
            "--mode" => {
                a.mode = match val()?.as_str() {
                    "echo" => Mode::Echo,
                    "broadcast" => Mode::Broadcast,
                    "pubsub" => Mode::PubSub,
                    m => {
                        return Err(format!(
                            "--mode: unknown mode {m:?} (echo | broadcast | pubsub)"
                        ))
                    }
                }
            }
            "--subprotocol" => a.protocols.push(val()?),
            "--redis" => a.redis = Some(val()?),
            "--publish-token" => a.publish_token = Some(val()?),
            "--log" => a.log = val()?,
            "--memory-budget" => {
                a.memory_budget =
                    Some(parse_bytes(&val()?).map_err(|e| format!("--memory-budget: {e}"))?)
            }
            "--message-timeout" => {
                let v = val()?;
                a.message_timeout = v
                    .parse()
                    .map_err(|_| format!("--message-timeout: want seconds, got {v:?}"))?
            }
            "--slow-readers" => {
                let v = val()?;
                a.close_after_drops = match v.as_str() {
                    "drop" => None,
                    c => Some(
                        c.strip_prefix("close:")
                            .and_then(|n| n.parse::<u32>().ok())
                            .filter(|&n| n > 0)
                            .ok_or_else(|| {
                                format!("--slow-readers: want drop or close:N (N ≥ 1), got {v:?}")
                            })?,
                    ),
                }
            }
            "--compression" => {
                a.compression = val()?;
                if !matches!(a.compression.as_str(), "off" | "shared" | "dedicated") {
                    return Err(format!(
                        "--compression: unknown policy {:?} (off | shared | dedicated)",
                        a.compression
                    ));
                }
            }
            "--window-bits" => {
                let v = val()?;
                let bits = |s: &str| s.parse::<u8>().ok().filter(|b| (9..=15).contains(b));
                let parsed = match v.split_once(',') {
                    Some((s, c)) => bits(s).zip(bits(c)),
                    None => bits(&v).map(|b| (b, b)),
                };
                a.window_bits =
                    parsed.ok_or(format!("--window-bits: want S[,C] in 9-15, got {v:?}"))?;
            }
            "--huge-pages" => a.huge_pages = true,
            "--copy-sends" => a.copy_sends = true,
            "--whole-recv-buffers" => a.whole_recv_buffers = true,
            "--direct-recv-min" => {
                let v = val()?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--direct-recv-min: want a byte count, got {v:?}"))?;
                a.direct_recv_min = (n > 0).then_some(n);
            }
            "--recv-buffers" => {
                let v = val()?;
                let parsed = v
                    .split_once('x')
                    .and_then(|(n, s)| Some((n.parse().ok()?, s.parse().ok()?)));
                a.recv_buffers =
                    Some(parsed.ok_or(format!("--recv-buffers: want COUNTxSIZE, got {v:?}"))?);
            }
            other => return Err(format!("unknown flag {other:?}\n\n{USAGE}")),
        }
    }
    if a.tls_certs.len() != a.tls_keys.len() {
        return Err("--tls-cert and --tls-key come in pairs".into());
    }
    if a.bind_tls.is_some() && a.tls_certs.is_empty() {
        return Err("--bind-tls needs --tls-cert and --tls-key".into());
    }
    if a.mode != Mode::PubSub && (a.redis.is_some() || a.publish_token.is_some()) {
        return Err("--redis and --publish-token need --mode pubsub".into());
    }
    Ok(a)
}

/// Block SIGINT, SIGTERM and SIGHUP in this thread (and every thread it spawns), so
/// they can be taken synchronously with `sigwait` instead of killing us.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it,
    // and pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Raises the soft limit on open files to the hard limit: each connection is
/// a file descriptor, and the usual soft limit (1,024) would cap a server far
/// below what the machine allows. Logs what it did; a failure only logs.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the variable we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let soft = lim.rlim_cur;
    if soft >= lim.rlim_max {
        tracing::info!(limit = soft, "open files limit: {soft}");
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one initialised rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
        tracing::info!(
            from = soft,
            to = lim.rlim_max,
            "open files limit raised from {soft} to the hard limit {}",
            lim.rlim_max
        );
    } else {
        let e = std::io::Error::last_os_error();
        tracing::warn!(limit = soft, "open files limit stays {soft}: {e}");
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ringws: {e}");
            return ExitCode::from(2);
        }
    };
    purge_freed_memory_at_once();
    if !args.huge_pages {
        // mimalloc asks for transparent huge pages on its arenas
        // (MADV_HUGEPAGE), so the heap grows 2 MiB at a time: 10,000 idle
        // connections (about 1 MiB of state) then cost 5 MiB of RSS. Opt
        // out before the workers touch the heap. Pages already faulted stay.
        // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    raise_fd_limit();
    let set = block_signals();
    let mut b = Server::builder()
        .bind(args.bind.as_str())
        .backend(args.backend)
        .max_message_size(args.max_message_size)
        .max_frame_size(args.max_message_size)
        .idle_timeout((args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)));
    if let Some(n) = args.workers {
        b = b.workers(n);
    }
    if args.whole_recv_buffers {
        b = b.incremental_recv(false);
    }
    b = b.direct_recv_min(args.direct_recv_min);
    if let Some(bytes) = args.memory_budget {
        b = b.memory_budget(bytes);
    }
    b = b.close_after_dropped_sends(args.close_after_drops);
    b = b.message_timeout(
        (args.message_timeout > 0).then(|| Duration::from_secs(args.message_timeout)),
    );
    b = b.send_from_recv_buffers(!args.copy_sends);
    if let Some((count, size)) = args.recv_buffers {
        b = b.recv_buffers(count, size);
    }
    b = b.compression(match args.compression.as_str() {
        "shared" => Compression::Shared,
        "dedicated" => Compression::Dedicated {
            server_window_bits: args.window_bits.0,
            client_window_bits: args.window_bits.1,
        },
        _ => Compression::Off,
    });
    if let Some(url) = &args.redis {
        b = b.broker(BridgeConfig::new(url.as_str()));
    }
    let mut pairs = args.tls_certs.iter().zip(&args.tls_keys);
    if let Some((cert, key)) = pairs.next() {
        let mut tls = TlsConfig::from_pem_files(cert, key);
        for (cert, key) in pairs {
            tls = tls.with_pem_files(cert, key);
        }
        b = b.tls(tls);
        if let Some(addr) = &args.bind_tls {
            b = b.bind_tls(addr.as_str());
        }
    }
    let handle = match b.start(App {
        mode: args.mode,
        protocols: args.protocols,
        publish_token: args.publish_token,
    }) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ringws: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addrs = handle.local_addrs();
    let tls = !args.tls_certs.is_empty();
    for (i, addr) in addrs.iter().enumerate() {
        // Listeners in order: --bind, then --bind-tls.
        let scheme = if tls && (args.bind_tls.is_none() || i > 0) {
            "wss"
        } else {
            "ws"
        };
        tracing::info!(%addr, backend = %handle.backend(), "ringws ready: {scheme}://{addr}/");
    }
    let mut sig: i32 = 0;
    loop {
        // SAFETY: `set` is an initialised sigset; `sig` is a valid out pointer.
        unsafe { libc::sigwait(&set, &mut sig) };
        if sig != libc::SIGHUP {
            break;
        }
        if tls {
            // Logged either way; a bad file keeps the old certificates.
            let _ = handle.reload_tls();
        } else {
            tracing::info!("SIGHUP: nothing to reload (no TLS)");
        }
    }
    tracing::info!(signal = sig, "shutting down (close 1001, up to 5 s)");
    handle.shutdown(Duration::from_secs(5));
    let s = handle.stats();
    tracing::info!(
        handshakes = s.handshakes,
        messages_in = s.messages_in,
        messages_out = s.messages_out,
        loop_turns = s.loop_turns,
        recv_completions = s.recv_completions,
        direct_bytes = s.direct_bytes,
        sends = s.sends,
        lent_sends = s.lent_sends,
        budget_paused = s.budget_paused,
        budget_closed = s.budget_closed,
        budget_refused_upgrades = s.budget_refused_upgrades,
        sends_dropped = s.sends_dropped,
        slow_closed = s.slow_closed,
        message_timeouts = s.message_timeouts,
        messages_compressed = s.messages_compressed,
        messages_inflated = s.messages_inflated,
        fanout_compressions = s.fanout_compressions,
        broker_published = s.broker_published,
        broker_delivered = s.broker_delivered,
        broker_dropped = s.broker_dropped,
        broker_inbox_dropped = s.broker_inbox_dropped,
        broker_reconnects = s.broker_reconnects,
        "bye"
    );
    ExitCode::SUCCESS
}
