//! A runner that passes everyone proves nothing: here a deliberately lax echo
//! server (relays every frame, validates nothing, answers every close with
//! 1000) must earn FAILED where it breaks the RFC, and OK where it does not.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ringws_conformance::{
    accept_key, all_cases, op, parse_server_frame, run, select, RunOptions, Selection, Verdict,
};

fn lax_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    url
}

fn serve(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or("")
        .trim()
        .to_string();
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    if s.write_all(resp.as_bytes()).is_err() {
        return;
    }
    buf.drain(..end);
    loop {
        // Client frames are masked; the parser unmasks them.
        while let Ok(Some((f, used))) = parse_server_frame(&buf) {
            buf.drain(..used);
            let mut out = vec![(f.fin as u8) << 7 | f.rsv << 4 | f.opcode];
            let reply: Vec<u8> = match f.opcode {
                op::PING => f.payload.clone(),
                op::PONG => continue,
                op::CLOSE => 1000u16.to_be_bytes().to_vec(),
                _ => f.payload.clone(), // anything else, reserved or not, is relayed
            };
            if f.opcode == op::PING {
                out[0] = 0x80 | op::PONG;
            }
            if f.opcode == op::CLOSE {
                out[0] = 0x80 | op::CLOSE;
            }
            match reply.len() {
                n if n < 126 => out.push(n as u8),
                n if n <= 0xFFFF => {
                    out.push(126);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                n => {
                    out.push(127);
                    out.extend_from_slice(&(n as u64).to_be_bytes());
                }
            }
            out.extend_from_slice(&reply);
            if s.write_all(&out).is_err() || f.opcode == op::CLOSE {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn lax_server_fails_where_it_should() {
    let url = lax_server();
    let (cases, _) = select(
        all_cases(),
        &Selection::parse("1,2,3,4,5,6.3,6.5,6.20,7.7,7.9"),
        None,
        usize::MAX,
    );
    let opts = RunOptions {
        timeout: Duration::from_secs(2),
        jobs: 8,
        progress: false,
    };
    let r = run("lax", &url, &cases, &opts).unwrap();
    let v = |id: &str| {
        r.results
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.verdict)
            .unwrap()
    };
    // Fine where it echoes correctly (fragments are relayed one by one and
    // reassembled by the client; pings answered).
    for id in [
        "1.1.1", "1.1.7", "1.2.8", "2.1", "2.10", "5.3", "5.6", "6.5.1", "7.7.1",
    ] {
        assert_eq!(v(id), Verdict::Ok, "{id}");
    }
    // FAILED where it must fail the connection and does not, or answers wrongly.
    for id in [
        "2.5", "3.1", "3.5", "4.1.1", "4.2.1", "5.1", "5.9", "5.18", "6.3.1", "6.20.1", "7.9.1",
        "7.9.9",
    ] {
        assert_eq!(v(id), Verdict::Failed, "{id}");
    }
    // It ignores a reserved opcode: nobody closes until the client drops it.
    let c = r.results.iter().find(|c| c.id == "4.1.1").unwrap();
    assert_eq!(
        (c.closed_by.as_str(), c.server_closed_tcp),
        ("nobody", false),
        "{c:?}"
    );
    // 7.7.x accepts an echoed code or 1000: the lax server's 1000 is fine.
    assert_eq!(v("7.7.13"), Verdict::Ok);
}

/// The command line: exit status 1 on a FAILED case, 0 otherwise; writes the
/// JSON and Markdown it is asked for.
#[test]
fn cli_exit_status_and_outputs() {
    let lax = lax_server();
    let bin = env!("CARGO_BIN_EXE_ringws-conformance");
    let dir = std::env::temp_dir().join(format!("ringws-cli-{}", std::process::id()));
    let json = dir.join("r.json");
    let md = dir.join("r.md");
    let run = |cases: &str| {
        std::process::Command::new(bin)
            .arg(&lax)
            .args([
                "--cases",
                cases,
                "--quiet",
                "--timeout",
                "1",
                "--agent",
                "lax",
            ])
            .arg("--json")
            .arg(&json)
            .arg("--markdown")
            .arg(&md)
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(run("1.1.1,2.1"), Some(0));
    let report =
        ringws_conformance::Report::from_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report.results.len(), 2);
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("## 2 Pings/Pongs"));
    assert_eq!(run("3.1"), Some(1));
    let usage = std::process::Command::new(bin)
        .arg("--bogus")
        .status()
        .unwrap();
    assert_eq!(usage.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
