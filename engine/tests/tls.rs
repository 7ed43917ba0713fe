//! wss://: TLS through rustls's unbuffered API, on both backends, against a
//! real rustls client over loopback. The certificates (a test CA and
//! server certificates signed by it) are made by each test with rcgen.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Echo, Ev};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use ringws::{Backend, Server, ServerHandle, TlsConfig};
use ringws_codec::{ClientHandshake, ClientStatus, Event, OpCode, Receiver, ReceiverConfig};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A test CA and what it signed, written to a temporary directory.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("ringws-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ringws test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    /// A server certificate for `names` (ECDSA P-256), as `name.pem` and
    /// `name.key`; returns (cert path, key path, cert DER).
    fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf, Vec<u8>) {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem() + &self.ca.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k, cert.der().to_vec())
    }

    fn client_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut c = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking wss client: rustls over a std `TcpStream`, the codec's
/// client handshake and receiver.
struct TlsClient {
    s: StreamOwned<ClientConnection, TcpStream>,
    rx: Receiver,
    events: std::collections::VecDeque<Ev>,
    eof: bool,
}

impl TlsClient {
    fn connect(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
        name: &str,
    ) -> Result<TlsClient, String> {
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.set_nodelay(true).unwrap();
        let conn = ClientConnection::new(config, ServerName::try_from(name.to_string()).unwrap())
            .map_err(|e| e.to_string())?;
        let mut s = StreamOwned::new(conn, tcp);
        let mut hs = ClientHandshake::new(name, "/");
        let mut req = Vec::new();
        hs.write_request(&mut req);
        s.write_all(&req).map_err(|e| e.to_string())?;
        s.flush().map_err(|e| e.to_string())?;
        let mut c = TlsClient {
            s,
            rx: Receiver::new(ReceiverConfig::client()),
            events: Default::default(),
            eof: false,
        };
        let mut buf = vec![0u8; 4096];
        loop {
            let n = c.s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("eof during handshake".into());
            }
            match hs.feed(&buf[..n]).map_err(|e| format!("{e:?}"))? {
                ClientStatus::Partial => continue,
                ClientStatus::Complete { consumed, .. } => {
                    let mut rest = buf[consumed..n].to_vec();
                    c.ingest(&mut rest);
                    return Ok(c);
                }
            }
        }
    }

    fn ingest(&mut self, data: &mut [u8]) {
        let mut feed = self.rx.feed(data);
        while let Some(ev) = feed.next_event() {
            let ev = match ev.expect("server sent an invalid frame") {
                Event::Text(t) => Ev::Text(t.to_string()),
                Event::Binary(b) => Ev::Binary(b.to_vec()),
                Event::Ping(p) => Ev::Ping(p.to_vec()),
                Event::Pong(p) => Ev::Pong(p.to_vec()),
                Event::Close(c) => Ev::Close(c.map(|(c, r)| (c.0, r.to_string()))),
                Event::Compressed { .. } => panic!("compressed"),
            };
            self.events.push_back(ev);
        }
    }

    fn send_frame(&mut self, fin: bool, op: OpCode, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 14);
        ringws_codec::write_frame(&mut out, fin, op, payload, common::mask());
        self.s.write_all(&out).unwrap();
        self.s.flush().unwrap();
    }

    /// Next event; `None` once the server ended the session: `Ok(true)`
    /// in `eof` means it said close_notify first (rustls reports a TCP
    /// end without it as an error).
    fn recv(&mut self) -> Option<Ev> {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if self.eof {
                return None;
            }
            match self.s.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.ingest(&mut buf[..n]),
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn recv_data(&mut self) -> Option<Ev> {
        loop {
            match self.recv()? {
                Ev::Ping(_) | Ev::Pong(_) => continue,
                e => return Some(e),
            }
        }
    }
}

fn start(
    backend: Backend,
    tls: TlsConfig,
    cfg: impl FnOnce(ringws::Builder) -> ringws::Builder,
) -> ServerHandle {
    let b = Server::builder()
        .bind("127.0.0.1:0")
        .workers(1)
        .backend(backend)
        .pin_workers(false)
        .tls(tls);
    cfg(b).start(Echo::new()).expect("server start")
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Echo of 0 B … 16 MiB, text and binary, whole and fragmented, with
/// pings in between, over TLS 1.3 and TLS 1.2; then the closing handshake
/// followed by the server's close_notify.
fn echo_sizes(backend: Backend) {
    let pki = Pki::new(&format!("echo-{backend}"));
    let (cert, key, _) = pki.issue("server", &["localhost"]);
    let h = start(backend, TlsConfig::from_pem_files(&cert, &key), |b| b);
    let addr = h.local_addr();
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let mut c = TlsClient::connect(addr, pki.client_config(versions), "localhost").unwrap();
        let negotiated = c.s.conn.protocol_version().unwrap();
        assert_eq!(negotiated, versions[0].version);
        assert_eq!(c.s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        for (i, &n) in [
            0usize,
            1,
            125,
            126,
            4095,
            16 << 10,
            16385,
            65536,
            1 << 20,
            16 << 20,
        ]
        .iter()
        .enumerate()
        {
            let data = pattern(n, i as u8);
            c.send_frame(true, OpCode::Binary, &data);
            assert_eq!(c.recv_data(), Some(Ev::Binary(data.clone())), "{n} B");
            // The same bytes in 3 fragments, a ping between them.
            let third = n / 3;
            c.send_frame(false, OpCode::Binary, &data[..third]);
            c.send_frame(true, OpCode::Ping, b"p");
            c.send_frame(false, OpCode::Continuation, &data[third..2 * third]);
            c.send_frame(true, OpCode::Continuation, &data[2 * third..]);
            assert_eq!(c.recv(), Some(Ev::Pong(b"p".to_vec())));
            assert_eq!(c.recv_data(), Some(Ev::Binary(data)), "{n} B fragmented");
        }
        let text = "héllo ".repeat(20_000);
        c.send_frame(true, OpCode::Text, text.as_bytes());
        assert_eq!(c.recv_data(), Some(Ev::Text(text)));
        // A burst of small messages in one write (many records in one read).
        let mut burst = Vec::new();
        for i in 0..200u32 {
            ringws_codec::write_frame(
                &mut burst,
                true,
                OpCode::Text,
                format!("m{i}").as_bytes(),
                common::mask(),
            );
        }
        c.s.write_all(&burst).unwrap();
        c.s.flush().unwrap();
        for i in 0..200u32 {
            assert_eq!(c.recv_data(), Some(Ev::Text(format!("m{i}"))));
        }
        // Closing handshake, then the server's close_notify (a TCP end
        // without it would be a read error here), then EOF.
        c.send_frame(true, OpCode::Close, &[0x03, 0xe8]);
        assert_eq!(c.recv(), Some(Ev::Close(Some((1000, String::new())))));
        assert_eq!(c.recv(), None);
        assert!(c.eof, "close_notify then EOF");
        c.s.conn.send_close_notify();
        let _ = c.s.flush();
    }
    h.shutdown(Duration::from_secs(2));
}
both_backends!(
    echo_0b_to_16mib_fragmented_with_pings_then_close_notify,
    echo_sizes
);

/// Read until the server ends the TCP connection (EOF or reset); false if
/// it is still open after `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + within;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if Instant::now() > end {
            return false;
        }
    }
}

/// A plaintext upgrade request, garbage, and a handshake that stalls after
/// half a ClientHello are each closed (the stall within the handshake
/// timeout), while a wss client alongside keeps echoing; a client that
/// offers only TLS versions the server lacks is refused.
fn bad_input(backend: Backend) {
    let pki = Pki::new(&format!("bad-{backend}"));
    let (cert, key, _) = pki.issue("server", &["localhost"]);
    let h = start(backend, TlsConfig::from_pem_files(&cert, &key), |b| {
        b.handshake_timeout(Duration::from_millis(600))
    });
    let addr = h.local_addr();
    let config = pki.client_config(&[&rustls::version::TLS13]);
    let mut good = TlsClient::connect(addr, config.clone(), "localhost").unwrap();

    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3])
        .unwrap();
    garbage.write_all(&pattern(70_000, 9)).unwrap_or(());

    // Half a real ClientHello, then nothing.
    let mut hello = Vec::new();
    let mut cc =
        ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    cc.write_tls(&mut hello).unwrap();
    let mut stall = TcpStream::connect(addr).unwrap();
    stall.write_all(&hello[..hello.len() / 2]).unwrap();
    let stalled_at = Instant::now();

    assert!(
        closed_within(&mut plain, Duration::from_secs(3)),
        "plaintext on the TLS port"
    );
    assert!(
        closed_within(&mut garbage, Duration::from_secs(3)),
        "garbage"
    );
    good.send_frame(true, OpCode::Text, b"still here");
    assert_eq!(good.recv_data(), Some(Ev::Text("still here".into())));
    assert!(
        closed_within(&mut stall, Duration::from_secs(5)),
        "stalled handshake"
    );
    let took = stalled_at.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "closed by the handshake timeout, not before: {took:?}"
    );

    // TLS 1.2 only with a 1.3-only client config is fine; a client whose
    // only cipher suites the server refuses fails its handshake cleanly.
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.clear();
    let refused = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    // (rustls itself refuses a config without suites; either way no
    // connection is made.)
    assert!(refused.is_err());

    // A client that does not trust the server's CA gives up; the server
    // closes that connection and carries on.
    let other = Pki::new(&format!("bad-other-{backend}"));
    let untrusted = TlsClient::connect(
        addr,
        other.client_config(&[&rustls::version::TLS13]),
        "localhost",
    );
    assert!(untrusted.is_err());
    good.send_frame(true, OpCode::Text, b"after");
    assert_eq!(good.recv_data(), Some(Ev::Text("after".into())));
    // The server lingers after its FIN until the peer's: end them.
    drop((plain, garbage, stall));
    assert_eq!(
        common::connections_after(&h, Duration::from_secs(3)),
        1,
        "only the good client is left"
    );
    h.shutdown(Duration::from_secs(2));
}
both_backends!(
    plaintext_garbage_and_stalls_are_closed_others_unaffected,
    bad_input
);

/// 2,000 TLS handshakes stalled after half a ClientHello hold bounded
/// memory (measured as the heap and RSS growth of this process, which runs
/// the server) and are all closed by the handshake timeout.
fn many_stalled(backend: Backend) {
    let want = 2000;
    let lim = common::nofile_limit();
    common::set_soft_nofile(lim.rlim_max.min(1 << 16)).unwrap();
    let pki = Pki::new(&format!("stall-{backend}"));
    let (cert, key, _) = pki.issue("server", &["localhost"]);
    let h = start(backend, TlsConfig::from_pem_files(&cert, &key), |b| {
        b.handshake_timeout(Duration::from_secs(4))
    });
    let addr = h.local_addr();
    let config = pki.client_config(&[&rustls::version::TLS13]);
    let mut hello = Vec::new();
    let mut cc = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    cc.write_tls(&mut hello).unwrap();
    let before = rss_kib();
    let mut socks = Vec::new();
    for _ in 0..want {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&hello[..hello.len() / 2]).unwrap();
        socks.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while h.stats().connections < want as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(h.stats().connections, want as u64);
    let grown = rss_kib().saturating_sub(before);
    let per = grown * 1024 / want as u64;
    eprintln!("{backend}: {want} stalled TLS handshakes: RSS +{grown} KiB ({per} B each, client sockets included)");
    assert!(per < 16 << 10, "{per} B per stalled handshake");
    // All closed by the handshake timeout.
    assert_eq!(common::connections_after(&h, Duration::from_secs(8)), 0);
    drop(socks);
    h.shutdown(Duration::from_secs(2));
}
both_backends!(
    two_thousand_stalled_handshakes_are_bounded_and_timed_out,
    many_stalled
);

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn peer_cert(c: &TlsClient) -> Vec<u8> {
    let certs: &[CertificateDer<'_>] = c.s.conn.peer_certificates().unwrap();
    certs[0].to_vec()
}

/// Several certificates chosen by SNI; no SNI gets the first; an unknown
/// SNI is refused while the others keep working.
fn sni(backend: Backend) {
    let pki = Pki::new(&format!("sni-{backend}"));
    let (ca, ka, da) = pki.issue("a", &["a.test"]);
    let (cb, kb, db) = pki.issue("b", &["b.test", "*.b.test"]);
    let h = start(
        backend,
        TlsConfig::from_pem_files(&ca, &ka).with_pem_files(&cb, &kb),
        |b| b,
    );
    let addr = h.local_addr();
    let config = pki.client_config(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let mut a = TlsClient::connect(addr, config.clone(), "a.test").unwrap();
    let mut b = TlsClient::connect(addr, config.clone(), "x.b.test").unwrap();
    assert_eq!(peer_cert(&a), da);
    assert_eq!(peer_cert(&b), db);
    let unknown = TlsClient::connect(addr, config.clone(), "c.test");
    assert!(unknown.is_err(), "unknown SNI refused");
    // No SNI (an IP address as the name): the first certificate, which the
    // client then rejects for the name; the server just closes.
    let mut no_sni = (*config).clone();
    no_sni.enable_sni = false;
    let r = TlsClient::connect(addr, Arc::new(no_sni), "a.test").unwrap();
    assert_eq!(peer_cert(&r), da);
    for c in [&mut a, &mut b] {
        c.send_frame(true, OpCode::Text, b"sni");
        assert_eq!(c.recv_data(), Some(Ev::Text("sni".into())));
    }
    h.shutdown(Duration::from_secs(2));
}
both_backends!(certificates_chosen_by_sni_unknown_names_refused, sni);

/// `reload_tls` with new files: new handshakes get the new certificate,
/// an open connection keeps going; a bad file keeps the current one.
fn rotation(backend: Backend) {
    let pki = Pki::new(&format!("rot-{backend}"));
    let (cert, key, old) = pki.issue("server", &["localhost"]);
    let h = start(backend, TlsConfig::from_pem_files(&cert, &key), |b| b);
    let addr = h.local_addr();
    let config = pki.client_config(&[&rustls::version::TLS13]);
    let mut open = TlsClient::connect(addr, config.clone(), "localhost").unwrap();
    assert_eq!(peer_cert(&open), old);

    // A new certificate in the same files.
    let (_, _, new) = pki.issue("server", &["localhost"]);
    h.reload_tls().unwrap();
    let c = TlsClient::connect(addr, config.clone(), "localhost").unwrap();
    assert_eq!(peer_cert(&c), new, "new handshakes use the new certificate");
    open.send_frame(true, OpCode::Text, b"still open");
    assert_eq!(open.recv_data(), Some(Ev::Text("still open".into())));

    // A broken key file: the reload fails, the certificate stays.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = h.reload_tls().unwrap_err();
    assert!(e.to_string().contains("server.key"), "{e}");
    // A key that does not match the certificate: refused too.
    let other = KeyPair::generate().unwrap();
    std::fs::write(&key, other.serialize_pem()).unwrap();
    assert!(h.reload_tls().is_err());
    let c = TlsClient::connect(addr, config.clone(), "localhost").unwrap();
    assert_eq!(
        peer_cert(&c),
        new,
        "a bad file keeps the current certificate"
    );
    h.shutdown(Duration::from_secs(2));
}
both_backends!(
    reload_uses_new_files_for_new_handshakes_bad_files_keep_the_old,
    rotation
);

/// A plain listener and a TLS listener in one server.
fn plain_and_tls(backend: Backend) {
    let pki = Pki::new(&format!("both-{backend}"));
    let (cert, key, _) = pki.issue("server", &["localhost"]);
    let h = start(backend, TlsConfig::from_pem_files(&cert, &key), |b| {
        b.bind_tls("127.0.0.1:0")
    });
    let addrs = h.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    let mut plain = common::Client::connect(addrs[0]);
    let mut tls = TlsClient::connect(
        addrs[1],
        pki.client_config(&[&rustls::version::TLS13]),
        "localhost",
    )
    .unwrap();
    plain.send_text("ws");
    tls.send_frame(true, OpCode::Text, b"wss");
    assert_eq!(plain.recv_data(), Some(Ev::Text("ws".into())));
    assert_eq!(tls.recv_data(), Some(Ev::Text("wss".into())));
    // Big echoes: the plain one may lend its receive buffer; the TLS one
    // never does, and never receives directly into a message buffer.
    let big = pattern(1 << 20, 3);
    plain.send_binary(&big);
    tls.send_frame(true, OpCode::Binary, &big);
    assert_eq!(plain.recv_data(), Some(Ev::Binary(big.clone())));
    assert_eq!(tls.recv_data(), Some(Ev::Binary(big)));
    h.shutdown(Duration::from_secs(2));
}
both_backends!(a_plain_and_a_tls_listener_at_once, plain_and_tls);

/// The binary: `--bind` plain and `--bind-tls` wss at once with
/// `--tls-cert/--tls-key`; SIGHUP reloads the files (new handshakes get the
/// new certificate, an open connection keeps going; a bad file is logged
/// and the certificate kept).
#[test]
fn binary_bind_tls_and_sighup_reload() {
    use std::io::BufRead;
    let pki = Pki::new("binary");
    let (cert, key, old) = pki.issue("server", &["localhost"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringws"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--bind-tls",
            "127.0.0.1:0",
            "--workers",
            "1",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    for r in [Box::new(out) as Box<dyn Read + Send>, Box::new(err)] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let wait_for = |what: &str| -> String {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                if l.contains(what) {
                    return l;
                }
            }
        }
        panic!("the binary never logged {what:?}");
    };
    let addr_of = |line: &str, scheme: &str| -> SocketAddr {
        let at = line.find(scheme).unwrap() + scheme.len();
        line[at..].split('/').next().unwrap().parse().unwrap()
    };
    let ws = addr_of(&wait_for("ready: ws://"), "ws://");
    let wss = addr_of(&wait_for("ready: wss://"), "wss://");
    let config = pki.client_config(&[&rustls::version::TLS13]);
    let mut plain = common::Client::connect(ws);
    plain.send_text("ws");
    assert_eq!(plain.recv_data(), Some(Ev::Text("ws".into())));
    let mut open = TlsClient::connect(wss, config.clone(), "localhost").unwrap();
    assert_eq!(peer_cert(&open), old);

    let (_, _, new) = pki.issue("server", &["localhost"]);
    // SAFETY: kill only sends a signal to our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    wait_for("TLS certificates reloaded");
    let c = TlsClient::connect(wss, config.clone(), "localhost").unwrap();
    assert_eq!(peer_cert(&c), new);
    open.send_frame(true, OpCode::Text, b"kept");
    assert_eq!(open.recv_data(), Some(Ev::Text("kept".into())));

    std::fs::write(&key, "not a key").unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    wait_for("TLS reload failed");
    let c = TlsClient::connect(wss, config, "localhost").unwrap();
    assert_eq!(
        peer_cert(&c),
        new,
        "the bad file kept the current certificate"
    );

    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Rotation under load: handshakes run back to back on two threads while
/// the certificates are reloaded 20 times; none fails, and each echo works.
fn rotation_under_load(backend: Backend) {
    let pki = Pki::new(&format!("rotload-{backend}"));
    let (cert, key, _) = pki.issue("server", &["localhost"]);
    let h = start(backend, TlsConfig::from_pem_files(&cert, &key), |b| b);
    let addr = h.local_addr();
    let config = pki.client_config(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (config, stop) = (config.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut done = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut c = TlsClient::connect(addr, config.clone(), "localhost")
                        .unwrap_or_else(|e| panic!("handshake {done} failed during reloads: {e}"));
                    c.send_frame(true, OpCode::Text, b"r");
                    assert_eq!(c.recv_data(), Some(Ev::Text("r".into())));
                    done += 1;
                }
                done
            })
        })
        .collect();
    for _ in 0..20 {
        h.reload_tls().unwrap();
        std::thread::sleep(Duration::from_millis(25));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done: u32 = clients.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(done > 0);
    eprintln!("{backend}: {done} handshakes during 20 reloads, none failed");
    h.shutdown(Duration::from_secs(2));
}
both_backends!(
    no_handshake_fails_while_certificates_are_reloaded,
    rotation_under_load
);
