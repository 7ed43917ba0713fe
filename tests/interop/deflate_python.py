#!/usr/bin/env python3
"""permessage-deflate interop with the Python `websockets` asyncio client.

Usage: deflate_python.py ws://HOST:PORT/
Connects with compression on (websockets' default offer), echoes
compressible JSON text and binary messages from 200 B to 1 MiB, and reports
the negotiated extension. Prints one JSON object; exits non-zero when a
check failed. (Whether frames were compressed on the wire is checked by the
test, which relays the connection.)
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect

SIZES = [200, 4096, 65536, 1 << 20]


def payload(n):
    out, i = [], 0
    total = 0
    while total < n:
        s = '{"sym":"T%d","px":%d.%02d,"qty":%d},' % (i % 17, 100 + i % 7, i % 100, i * 13 % 1000)
        out.append(s)
        total += len(s)
        i += 1
    return "".join(out)[:n]


async def main(url):
    results, failures = {}, []

    def check(name, ok, detail=""):
        results[name] = {"ok": bool(ok), "detail": detail}
        if not ok:
            failures.append(name)

    async with connect(url, compression="deflate", max_size=16 << 20,
                       open_timeout=10, close_timeout=5) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        check("negotiated", ext is not None and ext.startswith("permessage-deflate"), repr(ext))
        for n in SIZES:
            t = payload(n)
            await ws.send(t)
            got = await asyncio.wait_for(ws.recv(), 20)
            check(f"text_{n}", got == t, f"{len(got)} chars")
            b = t.encode()[::-1]
            await ws.send(b)
            got = await asyncio.wait_for(ws.recv(), 20)
            check(f"binary_{n}", got == b, f"{len(got)} bytes")
        await ws.close(1000, "bye")
        check("clean_close", ws.close_code == 1000, f"code={ws.close_code}")

    print(json.dumps({"client": "python-websockets", "ok": not failures,
                      "failures": failures, "results": results}))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
