//! A real `redis-server` per test, on a free loopback port, stopped on drop.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Finds `redis-server`, installing it with apt-get (CI runs as root on
/// Debian) when it is missing; panics with what to do otherwise.
pub fn redis_server_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = find_on_path("redis-server") {
            return bin;
        }
        let root = is_root();
        if root && find_on_path("apt-get").is_some() {
            // Test processes run in parallel: one installs, the others wait
            // on the lock and then find the binary.
            let _lock = InstallLock::take();
            if let Some(bin) = find_on_path("redis-server") {
                return bin;
            }
            eprintln!("redis-server is missing; installing it with apt-get");
            let install = || {
                Command::new("apt-get")
                    .args(["-o", "DPkg::Lock::Timeout=300"])
                    .args(["install", "-y", "-qq", "redis-server"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            };
            if !install() {
                let _ = Command::new("apt-get")
                    .args(["-o", "DPkg::Lock::Timeout=300", "update", "-qq"])
                    .status();
                install();
            }
            if let Some(bin) = find_on_path("redis-server") {
                return bin;
            }
        }
        panic!(
            "these tests need a real redis-server and none was found on PATH{}; \
             install it (Debian: `apt-get install -y redis-server`)",
            if root {
                " (apt-get install failed)"
            } else {
                " (not root, so not installing it)"
            }
        );
    })
}

/// An exclusive `flock` on a file in the temporary directory, held while
/// alive.
struct InstallLock(std::fs::File);

impl InstallLock {
    fn take() -> InstallLock {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(std::env::temp_dir().join("ringws-broker-redis-install.lock"))
            .expect("open the install lock file");
        // SAFETY: flock takes no pointers; the descriptor is open for the
        // call.
        unsafe {
            libc::flock(file.as_raw_fd(), libc::LOCK_EX);
        }
        InstallLock(file)
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `redis-server`; killed (and its directory removed) on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    /// `--requirepass` given at start, used by this helper's own clients.
    password: Option<String>,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> RedisServer {
        RedisServer::start_with_args(&[])
    }

    /// Starts one on a free port with extra `redis-server` arguments.
    pub fn start_with_args(args: &[&str]) -> RedisServer {
        for _ in 0..5 {
            if let Some(s) = RedisServer::try_start(free_port(), args) {
                return s;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts one on `port` (e.g. again, after [`RedisServer::kill`]).
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::try_start(port, &[])
            .unwrap_or_else(|| panic!("redis-server did not start on port {port}"))
    }

    fn try_start(port: u16, extra: &[&str]) -> Option<RedisServer> {
        let dir =
            std::env::temp_dir().join(format!("ringws-broker-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(redis_server_binary());
        cmd.args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of ours;
        // it makes the kernel kill the server if the test dies without
        // running its destructors.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn redis-server");
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .map(|p| p.to_string());
        let mut server = RedisServer {
            child: Some(child),
            port,
            dir,
            password,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = server.child.as_mut().map(|c| c.try_wait()) {
                return None; // exited: port taken
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && server.ping() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn ping(&self) -> bool {
        self.client()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok())
            .is_some()
    }

    fn client(&self) -> Option<redis::Connection> {
        redis::Client::open(self.url())
            .ok()?
            .get_connection_with_timeout(Duration::from_secs(2))
            .ok()
    }

    /// A plain client of this server.
    pub fn connection(&self) -> redis::Connection {
        self.client().expect("connect to the test redis-server")
    }

    /// `PUBSUB NUMSUB topic`: how many connections subscribe to it.
    pub fn numsub(&self, topic: &str) -> i64 {
        let mut c = self.connection();
        let reply: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(topic)
            .query(&mut c)
            .expect("PUBSUB NUMSUB");
        reply.first().map(|(_, n)| *n).unwrap_or(0)
    }

    /// Connected clients, not counting the one this call opens.
    pub fn clients(&self) -> i64 {
        let mut c = self.connection();
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query(&mut c)
            .expect("INFO clients");
        info.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse::<i64>().ok())
            .expect("connected_clients in INFO")
            - 1
    }

    /// Sends `signal` to the server (SIGSTOP / SIGCONT to freeze it).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().expect("running").id();
        // SAFETY: kill takes no pointers; the pid is our own child's.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A frozen server must be thawed to die promptly.
            self.signal(libc::SIGCONT);
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `cond` every few milliseconds until it holds; panics with `what`
/// after `limit`.
pub fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
