//! A TLS-terminating client proxy for tests: plain TCP in on a loopback
//! port, TLS (rustls, verifying the server against a CA file and the name
//! `127.0.0.1`) out to a wss server. Lets a plain-TCP client, such as the
//! conformance runner, exercise a server over real TLS. One thread per
//! connection; everything stops when the proxy is dropped.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

pub struct TlsProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl TlsProxy {
    /// Proxies to the TLS server on `upstream`, trusting `ca_pem`.
    pub fn start(upstream: SocketAddr, ca_pem: &std::path::Path) -> TlsProxy {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(ca_pem).expect("CA PEM"))
            .unwrap();
        let mut config = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((plain, _)) => {
                        let (config, s) = (config.clone(), s.clone());
                        std::thread::spawn(move || {
                            if let Err(e) = pump(plain, upstream, config, &s) {
                                eprintln!("tls proxy: {e}");
                            }
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => break,
                }
            }
        });
        TlsProxy { port, stop }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Moves bytes both ways until either side ends: plaintext from `plain` is
/// sealed to the server, the server's records are opened back to `plain`.
fn pump(
    mut plain: TcpStream,
    upstream: SocketAddr,
    config: Arc<ClientConfig>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut tls = TcpStream::connect(upstream)?;
    tls.set_nodelay(true)?;
    plain.set_nodelay(true)?;
    tls.set_nonblocking(true)?;
    plain.set_nonblocking(true)?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; 64 << 10];
    let (mut plain_open, mut tls_open) = (true, true);
    while !stop.load(Ordering::Relaxed) && tls_open {
        let mut progress = false;
        // Client → server, once the handshake lets data be sealed (rustls
        // buffers early writes itself).
        if plain_open {
            match plain.read(&mut buf) {
                Ok(0) => {
                    conn.send_close_notify();
                    plain_open = false;
                    progress = true;
                }
                Ok(n) => {
                    conn.writer().write_all(&buf[..n])?;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => plain_open = false,
            }
        }
        while conn.wants_write() {
            match conn.write_tls(&mut tls) {
                Ok(_) => progress = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return Ok(()),
            }
        }
        // Server → client.
        match conn.read_tls(&mut tls) {
            Ok(0) => tls_open = false,
            Ok(_) => {
                conn.process_new_packets().map_err(std::io::Error::other)?;
                progress = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => tls_open = false,
        }
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => {
                    tls_open = false;
                    break;
                }
                Ok(n) => {
                    write_all_blocking(&mut plain, &buf[..n])?;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    tls_open = false;
                    break;
                }
            }
        }
        if !progress {
            wait_readable(&[plain.as_raw_fd(), tls.as_raw_fd()], 5);
        }
    }
    // Whatever the server sent last reaches the client, then both end.
    let _ = plain.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn write_all_blocking(s: &mut TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match s.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn wait_readable(fds: &[i32], ms: i32) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a valid array of pollfd for the call's duration.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
}
