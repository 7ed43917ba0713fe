//! The `idle` scenario: open N connections, let them sit, and report how much
//! the server's resident memory grew per connection.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{pump, Client};
use crate::driver::{Backend, ConnectOptions, Driver};
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
    /// Client transport.
    pub backend: Backend,
}

/// Opens the connections, waits `settle`, calls `sample` (which reads the
/// server's RSS), then closes them. Returns how many opened.
pub fn idle_run(p: &IdleParams, mut sample: impl FnMut()) -> io::Result<usize> {
    let mut driver = Driver::new(p.backend, p.connections)?;
    let mut clients = Vec::with_capacity(p.connections);
    let mut dirty = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Open in batches so the listen backlog never overflows.
    let batch = 256;
    let mut opened = 0usize;
    while opened < p.connections && Instant::now() < deadline {
        let upto = (opened + batch).min(p.connections);
        for i in opened..upto {
            clients.push(Client::start(
                &mut driver,
                i,
                p.addr,
                &p.host,
                &p.path,
                i as u64 + 1,
                ConnectOptions::default(),
            )?);
        }
        while clients[opened..upto].iter().any(|c| !c.open && !c.closed)
            && Instant::now() < deadline
        {
            pump(
                &mut driver,
                Duration::from_millis(50),
                &mut clients,
                &mut dirty,
            )?;
        }
        opened = upto;
    }
    let ok = clients.iter().filter(|c| c.open && !c.closed).count();
    std::thread::sleep(p.settle);
    sample();
    close_all(&mut driver, &mut clients)?;
    Ok(ok)
}
