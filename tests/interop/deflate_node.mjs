// permessage-deflate interop with the Node `ws` client.
//
// Usage: node deflate_node.mjs ws://HOST:PORT/
// Connects with perMessageDeflate on (threshold 0: every message is
// compressed), echoes compressible JSON text and binary messages from 200 B
// to 1 MiB, and reports the negotiated extension. Prints one JSON object;
// exits non-zero when a check failed. (Whether frames were compressed on the
// wire is checked by the test, which relays the connection.)
import WebSocket from 'ws';

const url = process.argv[2];
const SIZES = [200, 4096, 65536, 1 << 20];
const results = {};
const failures = [];
const check = (name, ok, detail = '') => {
  results[name] = { ok: !!ok, detail: String(detail) };
  if (!ok) failures.push(name);
};
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

function payload(n) {
  let s = '';
  for (let i = 0; s.length < n; i++) {
    s += `{"sym":"T${i % 17}","px":${100 + (i % 7)}.${String(i % 100).padStart(2, '0')},"qty":${(i * 13) % 1000}},`;
  }
  return s.slice(0, n);
}

const next = (ws) => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));

try {
  const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 }, maxPayload: 16 << 20 });
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 10000, 'open');
  check('negotiated', ws.extensions.startsWith('permessage-deflate'), ws.extensions);
  for (const n of SIZES) {
    const t = payload(n);
    ws.send(t);
    let m = await withTimeout(next(ws), 20000, `text ${n}`);
    check(`text_${n}`, !m.isBinary && m.data.toString('utf8') === t, `${m.data.length} bytes`);
    const b = Buffer.from(t, 'utf8').reverse();
    ws.send(b);
    m = await withTimeout(next(ws), 20000, `binary ${n}`);
    check(`binary_${n}`, m.isBinary && Buffer.compare(m.data, b) === 0, `${m.data.length} bytes`);
  }
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'bye');
  const code = await withTimeout(closed, 10000, 'close');
  check('clean_close', code === 1000, `code=${code}`);
} catch (e) {
  check('unexpected_error', false, e.stack ?? e);
}
console.log(JSON.stringify({ client: 'node-ws', ok: failures.length === 0, failures, results }));
process.exit(failures.length === 0 ? 0 : 1);
