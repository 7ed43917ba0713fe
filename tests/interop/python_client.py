#!/usr/bin/env python3
"""Interop check with the Python `websockets` asyncio client.

Usage: python_client.py ws://127.0.0.1:PORT/   (or wss://, trusting the CA
in $RINGWS_TEST_CA, whose chain and the server's name are verified)
Runs text and binary echo, a fragmented send, ping/pong, a subprotocol
request and a clean close; prints one JSON object with the results and exits
non-zero when a check failed.
"""
import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake

TEXT = "héllo wörld ✓ 😀 你好，世界 こんにちは"


def tls_context(url):
    """For wss://: verify the server against the test CA only."""
    if not url.startswith("wss://"):
        return None
    import ssl
    ctx = ssl.create_default_context(cafile=os.environ["RINGWS_TEST_CA"])
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def main(url):
    ssl_ctx = tls_context(url)
    results = {}
    failures = []

    def check(name, ok, detail=""):
        results[name] = {"ok": bool(ok), "detail": detail}
        if not ok:
            failures.append(name)

    async with connect(url, ssl=ssl_ctx, max_size=16 * 1024 * 1024, compression=None,
                       open_timeout=10, close_timeout=5) as ws:
        await ws.send(TEXT)
        got = await asyncio.wait_for(ws.recv(), 10)
        check("text_echo", got == TEXT, repr(got)[:80])

        blob = os.urandom(256 * 1024)
        await ws.send(blob)
        got = await asyncio.wait_for(ws.recv(), 10)
        check("binary_echo", got == blob, f"{len(got)} bytes")

        # An iterable sends one message as several frames.
        parts = ["frag-1 ", "frag-2 😀 ", "frag-3"]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 10)
        check("fragmented_text", got == "".join(parts), repr(got))
        bparts = [b"\x00\x01", b"\xfe" * 1000, b"\xff"]
        await ws.send(bparts)
        got = await asyncio.wait_for(ws.recv(), 10)
        check("fragmented_binary", got == b"".join(bparts), f"{len(got)} bytes")

        waiter = await ws.ping(b"interop-ping")
        latency = await asyncio.wait_for(waiter, 10)
        check("ping_pong", True, f"latency {latency * 1000:.2f} ms")

        # 100 messages in a row come back in order.
        for i in range(100):
            await ws.send(f"msg-{i}")
        got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(100)]
        check("ordered_burst", got == [f"msg-{i}" for i in range(100)], f"{len(got)} messages")

        await ws.close(1000, "bye")
        # close_code is the code of the close frame the server sent back.
        rcvd = ws.protocol.close_rcvd
        check("clean_close", ws.close_code == 1000 and rcvd is not None,
              f"code={ws.close_code} rcvd={rcvd}")
        if ssl_ctx is not None:
            tls = ws.transport.get_extra_info("ssl_object")
            check("tls", tls is not None and tls.selected_alpn_protocol() == "http/1.1",
                  f"{tls.version() if tls else None} alpn={tls.selected_alpn_protocol() if tls else None}")

    # Subprotocols: the server may pick one of ours or none (RFC 6455 4.2.2);
    # websockets accepts both. What it picked is recorded.
    try:
        async with connect(url, ssl=ssl_ctx, subprotocols=["chat.v1", "superchat"],
                           open_timeout=10) as ws:
            await ws.send("sub")
            got = await asyncio.wait_for(ws.recv(), 10)
            # EXPECT_SUBPROTOCOL: the choice the server under test is known to make.
            expected = os.environ.get("EXPECT_SUBPROTOCOL")
            allowed = (expected,) if expected else (None, "chat.v1", "superchat")
            check("subprotocol_request", got == "sub" and ws.subprotocol in allowed,
                  f"selected={ws.subprotocol!r} expected={expected!r}")
            await ws.close()
    except InvalidHandshake as e:
        check("subprotocol_request", False, f"handshake refused: {e}")

    print(json.dumps({"client": "python-websockets", "ok": not failures,
                      "failures": failures, "results": results}))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
