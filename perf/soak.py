#!/usr/bin/env python3
"""Soak load for a WebSocket echo server (driven by perf/soak.sh).

Holds a population of connections for a long time and samples the
server every 10 s, to show whether its memory, descriptors, CPU per
message and latency stay flat:

- holders: mostly idle connections; the client library pings each every
  20 s (its keepalive) and checks the pongs;
- echoers: each sends a message every second, 16 B to 64 KiB (mostly
  small), checks the echo and records the round trip;
- slow readers: each sends 64 KiB every 0.5 s but reads one message every
  2 s, so the server's backpressure holds them back;
- churn: N connections per second open, echo one message and close.

Every window it appends a row to samples.csv: server RSS and descriptors
(from /proc), server CPU per echoed message, echo p50/p99 of the window,
connections open, churn done, errors. Errors count failures of the honest
clients (holders, echoers, churn); slow readers only count as stalled.
"""

import argparse
import asyncio
import csv
import os
import random
import sys
import time

import websockets

SIZES = [16] * 40 + [256] * 25 + [1024] * 20 + [4096] * 8 + [16384] * 5 + [65536] * 2


def proc_sample(pid):
    """(rss bytes, open descriptors, cpu seconds) of the server."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return rss, fds, cpu


class State:
    def __init__(self):
        self.rtts = []
        self.echoed = 0
        self.errors = 0
        self.error_kinds = {}
        self.open = 0
        self.churned = 0
        self.stop = False

    def error(self, kind, e):
        self.errors += 1
        key = f"{kind}: {type(e).__name__}"
        self.error_kinds[key] = self.error_kinds.get(key, 0) + 1


def payload(size, seq):
    head = f"{seq:016x}".encode()
    return head + b"x" * (size - len(head)) if size >= 16 else head[:size]


async def holder(url, st, ramp):
    await asyncio.sleep(random.uniform(0, ramp))
    try:
        async with websockets.connect(url, ping_interval=20, ping_timeout=20,
                                      max_size=None, compression=None) as ws:
            st.open += 1
            try:
                while not st.stop:
                    await asyncio.sleep(1)
            finally:
                st.open -= 1
    except Exception as e:  # noqa: BLE001
        if not st.stop:
            st.error("holder", e)


async def echoer(url, st, ramp):
    await asyncio.sleep(random.uniform(0, ramp))
    seq = 0
    try:
        async with websockets.connect(url, ping_interval=20, ping_timeout=20,
                                      max_size=None, compression=None) as ws:
            st.open += 1
            try:
                while not st.stop:
                    size = random.choice(SIZES)
                    msg = payload(size, seq)
                    t = time.perf_counter()
                    await ws.send(msg)
                    back = await ws.recv()
                    if back != msg:
                        raise ValueError(f"echo {seq} differs")
                    st.rtts.append(time.perf_counter() - t)
                    st.echoed += 1
                    seq += 1
                    await asyncio.sleep(random.uniform(0.5, 1.5))
            finally:
                st.open -= 1
    except Exception as e:  # noqa: BLE001
        if not st.stop:
            st.error("echoer", e)


async def slow_reader(url, st, ramp):
    await asyncio.sleep(random.uniform(0, ramp))
    try:
        async with websockets.connect(url, ping_interval=None, max_size=None,
                                      max_queue=4, compression=None) as ws:
            st.open += 1

            async def reader():
                while not st.stop:
                    await asyncio.sleep(2)
                    await ws.recv()

            r = asyncio.create_task(reader())
            try:
                seq = 0
                while not st.stop:
                    await asyncio.wait_for(ws.send(payload(65536, seq)), 3600)
                    seq += 1
                    await asyncio.sleep(0.5)
            finally:
                r.cancel()
                st.open -= 1
    except Exception:  # noqa: BLE001
        pass  # a slow reader may be cut; it is not an honest client


async def churn(url, st, per_second):
    async def one(seq):
        try:
            async with websockets.connect(url, ping_interval=None,
                                          compression=None) as ws:
                msg = payload(64, seq)
                await ws.send(msg)
                if await ws.recv() != msg:
                    raise ValueError("churn echo differs")
            st.churned += 1
        except Exception as e:  # noqa: BLE001
            if not st.stop:
                st.error("churn", e)

    seq = 0
    tasks = set()
    t0 = time.monotonic()
    while not st.stop:
        due = t0 + seq / per_second
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        t = asyncio.create_task(one(seq))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        seq += 1
    await asyncio.gather(*tasks, return_exceptions=True)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="ws://127.0.0.1:9001/")
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--churn", type=float, default=200)
    ap.add_argument("--window", type=float, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    st = State()
    n = a.connections
    slow = max(1, n // 100)
    echo = max(1, n // 10)
    hold = n - slow - echo
    ramp = 60.0
    tasks = [asyncio.create_task(holder(a.url, st, ramp)) for _ in range(hold)]
    tasks += [asyncio.create_task(echoer(a.url, st, ramp)) for _ in range(echo)]
    tasks += [asyncio.create_task(slow_reader(a.url, st, ramp)) for _ in range(slow)]
    tasks.append(asyncio.create_task(churn(a.url, st, a.churn)))

    out = open(os.path.join(a.out, "samples.csv"), "w", newline="")
    w = csv.writer(out)
    w.writerow(["t_s", "rss_bytes", "fds", "cpu_s", "echoed", "cpu_us_per_echo",
                "p50_ms", "p99_ms", "open", "churned", "errors"])
    t0 = time.monotonic()
    _, _, cpu_prev = proc_sample(a.server_pid)
    echoed_prev = churned_prev = 0
    end = t0 + a.minutes * 60
    while time.monotonic() < end:
        await asyncio.sleep(a.window)
        rss, fds, cpu = proc_sample(a.server_pid)
        rtts, st.rtts = st.rtts, []
        echoed = st.echoed - echoed_prev
        churned = st.churned - churned_prev
        # Each echo and each churned connection's echo is one message in.
        msgs = echoed + churned
        per = (cpu - cpu_prev) / msgs * 1e6 if msgs else float("nan")
        row = [round(time.monotonic() - t0, 1), rss, fds, round(cpu, 2), echoed,
               round(per, 1), round(pct(rtts, 0.5) * 1e3, 2),
               round(pct(rtts, 0.99) * 1e3, 2), st.open, churned, st.errors]
        w.writerow(row)
        out.flush()
        print(" ".join(f"{k}={v}" for k, v in zip(
            ["t", "rss", "fds", "cpu", "echoed", "us/msg", "p50ms", "p99ms",
             "open", "churned", "errors"], row)), flush=True)
        cpu_prev, echoed_prev, churned_prev = cpu, st.echoed, st.churned
    st.stop = True
    await asyncio.wait(tasks, timeout=15)
    out.close()
    with open(os.path.join(a.out, "errors.txt"), "w") as f:
        f.write(f"errors {st.errors}\n")
        for k, v in sorted(st.error_kinds.items()):
            f.write(f"{k} {v}\n")
    print(f"errors {st.errors} {st.error_kinds}")


if __name__ == "__main__":
    asyncio.run(main())
