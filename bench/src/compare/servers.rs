//! The servers a comparison runs, and starting/stopping them pinned to a core.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// uWebSockets' name in reports (`bench/peers/uws`): the reference peer.
pub const UWS: &str = "uws";

/// One server under test.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Short name used in reports (`ringws-uring`, `tungstenite`, ...).
    pub name: String,
    /// Program to run.
    pub program: PathBuf,
    /// Arguments; `{port}` is replaced by the port.
    pub args: Vec<String>,
    /// Arguments for broadcast mode (fan-out), if the server has one.
    pub broadcast_args: Option<Vec<String>>,
    /// Whether this is ringws (ratios are ringws / peer).
    pub is_ringws: bool,
}

impl ServerSpec {
    /// The servers the standard comparison runs, from binaries in `bin_dir`;
    /// uWebSockets (`peer-uws`, built by `bench/peers/uws/build.sh`, which
    /// `bench/compare` runs) only where it was built.
    pub fn standard(bin_dir: &Path) -> Vec<ServerSpec> {
        let ringws = |backend: &str| {
            let base = |mode: &str| {
                [
                    "--bind",
                    "127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--backend",
                    backend,
                    "--mode",
                    mode,
                    "--log",
                    "warn",
                ]
                .map(String::from)
                .to_vec()
            };
            ServerSpec {
                name: format!("ringws-{backend}"),
                program: bin_dir.join("ringws"),
                args: base("echo"),
                broadcast_args: Some(base("broadcast")),
                is_ringws: true,
            }
        };
        let peer = |name: &str, bin: &str| ServerSpec {
            name: name.to_string(),
            program: bin_dir.join(bin),
            args: ["--port", "{port}", "--threads", "1"]
                .map(String::from)
                .to_vec(),
            broadcast_args: None,
            is_ringws: false,
        };
        let mut servers = vec![
            ringws("uring"),
            ringws("epoll"),
            peer("tungstenite", "peer-tungstenite"),
            peer("fastwebsockets", "peer-fastwebsockets"),
        ];
        if bin_dir.join("peer-uws").is_file() {
            servers.push(peer(UWS, "peer-uws"));
        }
        servers
    }
}

/// CPU placement of the server and the load generator.
#[derive(Clone, Debug)]
pub struct Pinning {
    /// `taskset -c` list for the server (e.g. `0`).
    pub server_cpus: String,
    /// `taskset -c` list for the load generator (e.g. `1`).
    pub client_cpus: String,
    /// Run both under `chrt -f 50` (SCHED_FIFO) to cut noise from other processes.
    pub fifo: bool,
}

impl Pinning {
    /// A command that runs `program args` with this placement for `server` or client.
    pub fn command(&self, server: bool, program: &Path, args: &[String]) -> Command {
        let cpus = if server {
            &self.server_cpus
        } else {
            &self.client_cpus
        };
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(cpus);
        if self.fifo {
            cmd.args(["chrt", "-f", "50"]);
        }
        cmd.arg(program).args(args);
        cmd
    }
}

/// A started server; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Running {
    child: Child,
    /// Its pid (taskset and chrt exec, so this is the server itself).
    pub pid: u32,
}

impl Running {
    /// Starts `spec` on `port`, waits until it accepts TCP connections.
    pub fn start(
        spec: &ServerSpec,
        broadcast: bool,
        port: u16,
        pin: &Pinning,
    ) -> Result<Running, String> {
        let args = if broadcast {
            spec.broadcast_args.clone().ok_or("no broadcast mode")?
        } else {
            spec.args.clone()
        };
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let child = pin
            .command(true, &spec.program, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", spec.program.display()))?;
        let mut running = Running {
            pid: child.id(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Let it finish starting its other workers before load arrives.
                thread::sleep(Duration::from_millis(200));
                return Ok(running);
            }
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!("{} exited at start: {status}", spec.name));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on port {port} within 15 s",
                    spec.name
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid we spawned and have not yet reaped.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
