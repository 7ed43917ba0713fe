// Interop check with the Node `ws` client.
//
// Usage: node ws_client.mjs ws://127.0.0.1:PORT/ [CONCURRENT=1000]
// (or wss://, trusting only the CA in $RINGWS_TEST_CA: chain and name verified)
// Text and binary echo, a fragmented send, ping/pong, a subprotocol request,
// a clean close, then CONCURRENT clients at once each doing one echo. Prints
// one JSON object; exits non-zero when a check failed.
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const url = process.argv[2];
const concurrent = Number(process.argv[3] ?? 1000);
const results = {};
const failures = [];
const check = (name, ok, detail = '') => {
  results[name] = { ok: !!ok, detail: String(detail) };
  if (!ok) failures.push(name);
};
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

const tls = url.startsWith('wss://')
  ? { ca: readFileSync(process.env.RINGWS_TEST_CA), ALPNProtocols: ['http/1.1'], rejectUnauthorized: true }
  : {};

function open(protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 16 << 20, ...tls });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
// Resolves with the next message as { data, isBinary }.
const next = (ws) => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));

async function basics() {
  const ws = await withTimeout(open(), 10000, 'open');
  const text = 'héllo ✓ 😀 你好，世界';
  ws.send(text);
  let m = await withTimeout(next(ws), 10000, 'text echo');
  check('text_echo', !m.isBinary && m.data.toString('utf8') === text, m.data.toString('utf8'));

  const blob = randomBytes(512 * 1024);
  ws.send(blob);
  m = await withTimeout(next(ws), 10000, 'binary echo');
  check('binary_echo', m.isBinary && Buffer.compare(m.data, blob) === 0, `${m.data.length} bytes`);

  // fin: false sends a fragment; the message ends with fin: true.
  ws.send('frag-1 ', { fin: false });
  ws.send('frag-2 😀 ', { fin: false });
  ws.send('frag-3', { fin: true });
  m = await withTimeout(next(ws), 10000, 'fragmented echo');
  check('fragmented_text', m.data.toString('utf8') === 'frag-1 frag-2 😀 frag-3', m.data.toString('utf8'));

  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(Buffer.from('interop-ping'));
  const p = await withTimeout(pong, 10000, 'pong');
  check('ping_pong', p.toString() === 'interop-ping', p.toString());

  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason })));
  ws.close(1000, 'bye');
  const c = await withTimeout(closed, 10000, 'close');
  check('clean_close', c.code === 1000, `code=${c.code}`);
}

// The server may select one of the offered subprotocols or none (RFC 6455
// 4.2.2). ws itself refuses a handshake without one when it asked; for a
// server whose choice is unknown that is the client's policy, so it is
// recorded rather than failed. EXPECT_SUBPROTOCOL names the choice the server
// under test is known to make (ringws is started with --subprotocol chat.v1):
// then anything else fails.
const EXPECTED = process.env.EXPECT_SUBPROTOCOL;
async function subprotocol() {
  try {
    const ws = await withTimeout(open(['chat.v1', 'superchat']), 10000, 'open with subprotocols');
    const offered = EXPECTED ? ws.protocol === EXPECTED : ['chat.v1', 'superchat'].includes(ws.protocol);
    ws.send('sub');
    const m = await withTimeout(next(ws), 10000, 'echo');
    check('subprotocol_request', offered && m.data.toString() === 'sub', `selected=${ws.protocol}`);
    ws.close(1000);
  } catch (e) {
    const none = !EXPECTED && /no subprotocol/.test(String(e.message));
    check('subprotocol_request', none, none ? 'server selected none (ws refuses that by design)' : e.message);
  }
}

async function many(n) {
  const t0 = Date.now();
  const one = async (i) => {
    const ws = await open();
    const msg = `client-${i}`;
    const got = next(ws);
    ws.send(msg);
    const m = await got;
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close(1000);
    await closed;
    return m.data.toString() === msg;
  };
  const settled = await withTimeout(Promise.allSettled(Array.from({ length: n }, (_, i) => one(i))), 60000, 'concurrent clients');
  const ok = settled.filter((s) => s.status === 'fulfilled' && s.value).length;
  const errors = [...new Set(settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason)))].slice(0, 3);
  check('concurrent_echo', ok === n, `${ok}/${n} clients echoed in ${Date.now() - t0} ms ${errors.join('; ')}`);
}

try {
  await basics();
  await subprotocol();
  if (concurrent > 0) await many(concurrent);
} catch (e) {
  check('unexpected_error', false, e.stack ?? e);
}
console.log(JSON.stringify({ client: 'node-ws', ok: failures.length === 0, failures, results }));
process.exit(failures.length === 0 ? 0 : 1);
