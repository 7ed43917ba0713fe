//! Interop with the Node `ws` client (`tests/interop/ws_client.mjs`): echo,
//! fragmented send, ping/pong, subprotocol request, clean close, then 1,000
//! concurrent clients each doing one echo.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    assert_client_ok, interop_dir, ringws_backends, run_client, servers_under_test, skip,
    start_ringws_tls, which, TestCa,
};

#[test]
fn node_ws_client_and_1000_concurrent() {
    let Some(node) = which("node") else {
        return skip("node is not installed");
    };
    if !interop_dir().join("node_modules/ws/package.json").is_file() {
        return skip("tests/interop/node_modules/ws is missing (npm ci)");
    }
    for spec in servers_under_test() {
        let server = spec.start();
        let (ok, out, err) = run_client(
            server
                .expect_subprotocol(&mut Command::new(&node))
                .arg(interop_dir().join("ws_client.mjs"))
                .arg(&server.url)
                .arg("1000"),
            Duration::from_secs(120),
        );
        assert_client_ok("node-ws", &server, ok, &out, &err);
    }
}

/// The same over wss://, the client verifying the chain and name against
/// the test CA; 200 concurrent TLS clients.
#[test]
fn node_ws_client_over_wss() {
    let Some(node) = which("node") else {
        return skip("node is not installed");
    };
    if !interop_dir().join("node_modules/ws/package.json").is_file() {
        return skip("tests/interop/node_modules/ws is missing (npm ci)");
    }
    let ca = TestCa::new("node");
    for backend in ringws_backends() {
        let server = start_ringws_tls(backend, &ca);
        let (ok, out, err) = run_client(
            server
                .expect_subprotocol(&mut Command::new(&node))
                .env("RINGWS_TEST_CA", &ca.ca)
                .arg(interop_dir().join("ws_client.mjs"))
                .arg(&server.url)
                .arg("200"),
            Duration::from_secs(120),
        );
        assert_client_ok("node-ws", &server, ok, &out, &err);
    }
}
