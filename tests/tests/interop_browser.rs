//! Interop with a real browser: headless Chromium (Debian's `chromium`) driven
//! by playwright-core (`tests/interop/browser.mjs`): emoji/CJK text, a 1 MiB
//! binary message, 200 messages in order, clean close 1000, and what
//! `ws.extensions` reports.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    assert_client_ok, interop_dir, ringws_backends, run_client, servers_under_test, skip,
    start_ringws_tls, which, TestCa,
};

/// node and Chromium, or why the test cannot run here.
fn browser() -> Result<(std::path::PathBuf, String), &'static str> {
    let node = which("node").ok_or("node is not installed")?;
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).is_file() {
        return Err("Debian's chromium is not installed (/usr/bin/chromium)");
    }
    if !interop_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Err("tests/interop/node_modules/playwright-core is missing (npm ci)");
    }
    Ok((node, chromium))
}

#[test]
fn headless_chromium() {
    let (node, chromium) = match browser() {
        Ok(b) => b,
        Err(why) => return skip(why),
    };
    for spec in servers_under_test() {
        let server = spec.start();
        let (ok, out, err) = run_client(
            Command::new(&node)
                .arg(interop_dir().join("browser.mjs"))
                .arg(&server.url)
                .env("CHROMIUM", &chromium),
            Duration::from_secs(120),
        );
        assert_client_ok("chromium", &server, ok, &out, &err);
    }
}

/// The same checks over wss:// on both backends (TLS 1.3, the test CA's
/// certificate, whose key the browser is told to accept).
#[test]
fn headless_chromium_over_wss() {
    let (node, chromium) = match browser() {
        Ok(b) => b,
        Err(why) => return skip(why),
    };
    let ca = TestCa::new("chromium");
    for backend in ringws_backends() {
        let server = start_ringws_tls(backend, &ca);
        let (ok, out, err) = run_client(
            Command::new(&node)
                .arg(interop_dir().join("browser.mjs"))
                .arg(&server.url)
                .env("CHROMIUM", &chromium)
                .env("RINGWS_TEST_CERT", &ca.cert),
            Duration::from_secs(120),
        );
        assert_client_ok("chromium-wss", &server, ok, &out, &err);
    }
}
