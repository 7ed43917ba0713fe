// Interop check from a real browser: headless Chromium (Debian's package,
// /usr/bin/chromium, driven by playwright-core; no browser download).
//
// Usage: node browser.mjs ws://127.0.0.1:PORT/
//        RINGWS_TEST_CERT=server.pem node browser.mjs wss://127.0.0.1:PORT/
// Over wss the browser is told to accept exactly that certificate's key
// (--ignore-certificate-errors-spki-list): a real TLS handshake, with the
// server's key pinned instead of a CA in a system store.
// A page opens a WebSocket, echoes text with emoji and CJK, a 1 MiB binary
// message, 200 messages in a burst (in order), and closes with 1000 cleanly.
// Records what ws.extensions and ws.protocol report. Prints one JSON object.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.argv[2];

// The SHA-256 of the test certificate's public key, for Chromium's pin list.
function spkiPin() {
  const pem = process.env.RINGWS_TEST_CERT;
  if (!pem) return [];
  const spki = new X509Certificate(readFileSync(pem)).publicKey.export({ type: 'spki', format: 'der' });
  return [`--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`];
}
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'ringws-chromium-'));
// The page comes from a loopback HTTP server, as a real app page would: a
// page with no origin (about:blank) reaching into loopback is subject to
// Chromium's local-network-access checks, which are not what is tested here.
const http = createServer((_, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><meta charset="utf-8"><title>ringws interop</title>');
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${http.address().port}/`;
const consoleLines = [];
let context;
let out;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
      ...spkiPin()],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => consoleLines.push(m.text()));
  await page.goto(pageUrl);
  out = await page.evaluate(async (url) => {
    const results = {};
    const failures = [];
    const check = (name, ok, detail = '') => {
      results[name] = { ok: !!ok, detail: String(detail) };
      if (!ok) failures.push(name);
    };
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    let waiting = null;
    ws.onmessage = (e) => {
      if (waiting) { const w = waiting; waiting = null; w(e.data); } else queue.push(e.data);
    };
    const next = () => new Promise((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      waiting = resolve;
      setTimeout(() => reject(new Error('timeout waiting for a message')), 15000);
    });
    const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e); });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('WebSocket error before open'));
    });
    results.extensions = { ok: true, detail: JSON.stringify(ws.extensions) };
    results.protocol = { ok: true, detail: JSON.stringify(ws.protocol) };

    const text = 'Grüße 😀🎉 你好，世界 こんにちは 안녕하세요';
    ws.send(text);
    const t = await next();
    check('text_echo', t === text, t);

    const blob = new Uint8Array(1 << 20);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 31 + 7) & 0xff;
    ws.send(blob);
    const b = new Uint8Array(await next());
    let same = b.length === blob.length;
    for (let i = 0; same && i < b.length; i++) same = b[i] === blob[i];
    check('binary_1mib_echo', same, `${b.length} bytes`);

    for (let i = 0; i < 200; i++) ws.send(`burst-${i}`);
    const got = [];
    for (let i = 0; i < 200; i++) got.push(await next());
    const inOrder = got.every((m, i) => m === `burst-${i}`);
    check('burst_200_in_order', inOrder, `${got.length} messages`);

    ws.close(1000, 'done');
    const e = await closed;
    check('clean_close_1000', e.code === 1000 && e.wasClean, `code=${e.code} wasClean=${e.wasClean}`);
    return { results, failures };
  }, url);
} catch (e) {
  const detail = `${e.stack ?? e} console: ${consoleLines.join(' | ')}`;
  out = { results: { unexpected_error: { ok: false, detail } }, failures: ['unexpected_error'] };
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  http.close();
}
console.log(JSON.stringify({ client: 'chromium', ok: out.failures.length === 0, ...out }));
process.exit(out.failures.length === 0 ? 0 : 1);
