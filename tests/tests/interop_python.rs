//! Interop with the Python `websockets` asyncio client
//! (`tests/interop/python_client.py`): text/binary echo, fragmented sends,
//! ping/pong, a subprotocol request, clean close.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    assert_client_ok, interop_dir, ringws_backends, run_client, servers_under_test, skip,
    start_ringws_tls, which, TestCa,
};

#[test]
fn python_websockets_client() {
    let Some(python) = which("python3") else {
        return skip("python3 is not installed");
    };
    let has_module = Command::new(&python)
        .args(["-c", "import websockets.asyncio.client"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        return skip("the Python websockets package (>= 13) is not installed");
    }
    for spec in servers_under_test() {
        let server = spec.start();
        let (ok, out, err) = run_client(
            server
                .expect_subprotocol(&mut Command::new(&python))
                .arg(interop_dir().join("python_client.py"))
                .arg(&server.url),
            Duration::from_secs(60),
        );
        assert_client_ok("python-websockets", &server, ok, &out, &err);
    }
}

/// The same checks over wss://, the client verifying the server's chain
/// and name against the test CA (and ALPN http/1.1).
#[test]
fn python_websockets_client_over_wss() {
    let Some(python) = which("python3") else {
        return skip("python3 is not installed");
    };
    let has_module = Command::new(&python)
        .args(["-c", "import websockets.asyncio.client"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        return skip("the Python websockets package (>= 13) is not installed");
    }
    let ca = TestCa::new("python");
    for backend in ringws_backends() {
        let server = start_ringws_tls(backend, &ca);
        let (ok, out, err) = run_client(
            server
                .expect_subprotocol(&mut Command::new(&python))
                .env("RINGWS_TEST_CA", &ca.ca)
                .arg(interop_dir().join("python_client.py"))
                .arg(&server.url),
            Duration::from_secs(60),
        );
        assert_client_ok("python-websockets", &server, ok, &out, &err);
        assert!(out.contains("\"tls\""), "the TLS check ran: {out}");
    }
}
