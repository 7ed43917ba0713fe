//! Interop with a real browser: headless Chromium (Debian's `chromium`) driven
//! by playwright-core (`tests/interop/browser.mjs`): emoji/CJK text, a 1 MiB
//! binary message, 200 messages in order, clean close 1000, and what
//! `ws.extensions` reports.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_client_ok, interop_dir, run_client, servers_under_test, skip, which};

#[test]
fn headless_chromium() {
    let Some(node) = which("node") else {
        return skip("node is not installed");
    };
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).is_file() {
        return skip("Debian's chromium is not installed (/usr/bin/chromium)");
    }
    if !interop_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return skip("tests/interop/node_modules/playwright-core is missing (npm ci)");
    }
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
