// permessage-deflate interop from a real browser: headless Chromium
// (Debian's package, /usr/bin/chromium, driven by playwright-core).
//
// Usage: node deflate_browser.mjs ws://127.0.0.1:PORT/
// A page opens a WebSocket (Chromium always offers permessage-deflate),
// checks ws.extensions, echoes compressible JSON text and binary messages
// from 200 B to 1 MiB, and closes with 1000. Prints one JSON object.
// (Whether frames were compressed on the wire is checked by the test, which
// relays the connection.)
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.argv[2];
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
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
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
    const payload = (n) => {
      let s = '';
      for (let i = 0; s.length < n; i++) {
        s += `{"sym":"T${i % 17}","px":${100 + (i % 7)}.${String(i % 100).padStart(2, '0')},"qty":${(i * 13) % 1000}},`;
      }
      return s.slice(0, n);
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
      setTimeout(() => reject(new Error('timeout waiting for a message')), 20000);
    });
    const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e); });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('WebSocket error before open'));
    });
    check('negotiated', ws.extensions.startsWith('permessage-deflate'), ws.extensions);
    for (const n of [200, 4096, 65536, 1 << 20]) {
      const t = payload(n);
      ws.send(t);
      const got = await next();
      check(`text_${n}`, got === t, `${got.length} chars`);
      const b = new TextEncoder().encode(t).reverse();
      ws.send(b);
      const g = new Uint8Array(await next());
      let same = g.length === b.length;
      for (let i = 0; same && i < g.length; i++) same = g[i] === b[i];
      check(`binary_${n}`, same, `${g.length} bytes`);
    }
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
