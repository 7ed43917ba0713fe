//! Every scenario on both client backends against the ringws engine,
//! in-process on 127.0.0.1 (port 0): no errors, no mismatched echo, and a
//! nonzero count. Each run is bounded (about a second of load).

use std::time::Duration;

use ringws::{Accept, Conn, Handler, Message, Reject, Request, Server, ServerHandle};
use ringws_bench::connect::{connect_thread, CloseMode, ConnectParams};
use ringws_bench::driver::{resolve, Backend, ClientBackend};
use ringws_bench::echo::{echo_thread, EchoParams};
use ringws_bench::fanout::{fanout_thread, FanoutParams};
use ringws_bench::idle::{idle_run, IdleParams};
use ringws_bench::run::{parse_url, run_threads};
use ringws_bench::stats::Recorder;

/// Echoes every message, or broadcasts it to every connection.
struct Serve {
    broadcast: bool,
}

impl Handler for Serve {
    type State = ();

    fn on_upgrade(&self, _request: &Request) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_message(&self, conn: &mut Conn<'_>, _state: &mut (), message: Message<'_>) {
        if self.broadcast {
            conn.broadcast(message);
            return;
        }
        match message {
            Message::Text(t) => conn.send_text(t),
            Message::Binary(b) => conn.send_binary(b),
        };
    }
}

/// A one-worker engine on an ephemeral loopback port; shut down on drop.
struct TestServer(ServerHandle);

impl TestServer {
    fn start(broadcast: bool) -> Self {
        let handle = Server::builder()
            .bind("127.0.0.1:0")
            .workers(1)
            .start(Serve { broadcast })
            .expect("engine starts");
        Self(handle)
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.0.local_addr())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.0.shutdown(Duration::from_millis(500));
    }
}

/// Runs `$body` (a fn taking a client `Backend`) as a `uring` and an `epoll`
/// test; the uring one skips, saying why, where the kernel lacks io_uring.
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn uring() {
                match resolve(ClientBackend::Uring) {
                    Ok(b) => ($body)(b),
                    Err(e) => eprintln!("skipping: {e}"),
                }
            }
            #[test]
            fn epoll() {
                ($body)(Backend::Epoll)
            }
        }
    };
}

const WARMUP: Duration = Duration::from_millis(200);
const WINDOW: Duration = Duration::from_secs(1);

fn assert_clean(what: &str, backend: Backend, rec: &Recorder) {
    let b = backend.name();
    assert_eq!(rec.errors, 0, "{what} on {b}: errors");
    assert_eq!(rec.mismatches, 0, "{what} on {b}: mismatched payloads");
    assert!(rec.completed > 0, "{what} on {b}: nothing completed");
}

fn echo(backend: Backend, size: usize, binary: bool, rate: Option<f64>, connections: usize) {
    let server = TestServer::start(false);
    let (addr, host, path) = parse_url(&server.url()).unwrap();
    let p = EchoParams {
        addr,
        host,
        path,
        size,
        depth: 4,
        binary,
        rate,
        threads: 1,
        backend,
    };
    let (rec, _) = run_threads(1, WARMUP, WINDOW, None, |i, sync| {
        echo_thread(&p, i, connections, sync)
    });
    assert_clean(
        &format!("echo {size} B binary={binary} rate={rate:?}"),
        backend,
        &rec,
    );
    // Every echo in the window was checked: bytes in match the count.
    assert_eq!(rec.bytes_in, rec.completed * size as u64);
}

on_both_backends!(echo_16_text, |b: Backend| echo(b, 16, false, None, 50));
on_both_backends!(echo_16_binary, |b: Backend| echo(b, 16, true, None, 50));
on_both_backends!(echo_64k_text, |b: Backend| echo(
    b,
    64 * 1024,
    false,
    None,
    50
));
on_both_backends!(echo_64k_binary, |b: Backend| echo(
    b,
    64 * 1024,
    true,
    None,
    50
));
on_both_backends!(echo_open_loop, |b: Backend| echo(
    b,
    128,
    true,
    Some(2000.0),
    20
));

fn connect_storm(backend: Backend, close: CloseMode) {
    let server = TestServer::start(false);
    let (addr, host, path) = parse_url(&server.url()).unwrap();
    let p = ConnectParams {
        addr,
        host,
        path,
        concurrency: 8,
        close,
        backend,
    };
    let (rec, _) = run_threads(1, WARMUP, WINDOW, None, |i, sync| {
        connect_thread(&p, i, sync)
    });
    assert_clean(&format!("connect --close {close:?}"), backend, &rec);
}

on_both_backends!(connect_tcp_close, |b: Backend| connect_storm(
    b,
    CloseMode::Tcp
));
on_both_backends!(connect_ws_close, |b: Backend| connect_storm(
    b,
    CloseMode::Ws
));

on_both_backends!(fanout, |backend: Backend| {
    let server = TestServer::start(true);
    let (addr, host, path) = parse_url(&server.url()).unwrap();
    let p = FanoutParams {
        addr,
        host,
        path,
        size: 64,
        rate: 200.0,
        backend,
        others: Vec::new(),
    };
    let subscribers = 20;
    let (rec, _) = run_threads(1, WARMUP, WINDOW, None, |i, sync| {
        fanout_thread(&p, i, subscribers, sync)
    });
    assert_clean("fanout", backend, &rec);
    // Every subscriber gets every publish: deliveries are a multiple of
    // about `subscribers` (publishes near the window's edges may be cut).
    assert!(
        rec.completed >= subscribers as u64 * 100,
        "fanout on {}: {} deliveries",
        backend.name(),
        rec.completed
    );
});

on_both_backends!(idle, |backend: Backend| {
    let server = TestServer::start(false);
    let (addr, host, path) = parse_url(&server.url()).unwrap();
    let p = IdleParams {
        addr,
        host,
        path,
        connections: 300,
        settle: Duration::from_millis(100),
        backend,
    };
    let opened = idle_run(&p, || {}).unwrap();
    assert_eq!(opened, 300, "idle on {}", backend.name());
});
