//! Interop with the Node `ws` client (`tests/interop/ws_client.mjs`): echo,
//! fragmented send, ping/pong, subprotocol request, clean close, then 1,000
//! concurrent clients each doing one echo.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_client_ok, interop_dir, run_client, servers_under_test, skip, which};

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
