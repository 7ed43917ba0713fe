//! The `idle` scenario: open N connections, let them sit, and report how much
//! the server's resident memory grew per connection.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::client::Client;
use crate::echo::close_all;

/// Parameters of an idle-memory run.
#[derive(Clone, Debug)]
pub struct IdleParams {
    /// Server address.
    pub addr: SocketAddr,
    /// Host header value.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Connections to open.
    pub connections: usize,
    /// How long to let them sit before sampling the server.
    pub settle: Duration,
}

/// Opens the connections, waits `settle`, calls `sample` (which reads the
/// server's RSS), then closes them. Returns how many opened.
pub fn idle_run(p: &IdleParams, mut sample: impl FnMut()) -> io::Result<usize> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let mut buf = vec![0u8; 16 * 1024];
    let mut clients = Vec::with_capacity(p.connections);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Open in batches so the listen backlog never overflows.
    let batch = 256;
    let mut opened = 0usize;
    while opened < p.connections && Instant::now() < deadline {
        let upto = (opened + batch).min(p.connections);
        for i in opened..upto {
            let mut c = Client::connect(p.addr, &p.host, &p.path, i as u64 + 1)?;
            poll.registry().register(
                &mut c.stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            clients.push(c);
        }
        while clients[opened..upto].iter().any(|c| !c.open && !c.closed)
            && Instant::now() < deadline
        {
            poll.poll(&mut events, Some(Duration::from_millis(50)))?;
            for ev in events.iter() {
                let c = &mut clients[ev.token().0];
                if c.flush().is_err() || c.read_ready(&mut buf, |_| {}).is_err() {
                    c.closed = true;
                }
            }
        }
        opened = upto;
    }
    let ok = clients.iter().filter(|c| c.open && !c.closed).count();
    std::thread::sleep(p.settle);
    sample();
    close_all(&mut poll, &mut events, clients.iter_mut(), &mut buf)?;
    Ok(ok)
}
