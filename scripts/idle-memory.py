#!/usr/bin/env python3
"""Measure what an idle registered client costs a running ferry server.

Usage: scripts/idle-memory.py --pid PID [--port 6667] [--clients 5000]

Connects N clients that register (NICK/USER) and then stay idle, and prints
the server's RSS (from /proc/PID/status) before and after, and the
difference per client. A rough figure until ferry-bench reports it.
"""
import argparse, asyncio, resource

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")

async def one(port, i, ready):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"NICK idle{i}\r\nUSER idle{i} 0 * :idle client\r\n".encode())
    await w.drain()
    while True:
        line = await r.readline()
        if not line:
            raise SystemExit(f"client {i}: closed")
        if b" 376 " in line or b" 422 " in line:
            break
    ready.append((r, w))

async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, default=6667)
    ap.add_argument("--clients", type=int, default=5000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    before = rss_kib(a.pid)
    ready = []
    for start in range(0, a.clients, 200):
        await asyncio.gather(*(one(a.port, i, ready) for i in range(start, min(start + 200, a.clients))))
    await asyncio.sleep(2)
    after = rss_kib(a.pid)
    per = (after - before) * 1024 / a.clients
    print(f"clients={a.clients} rss_before_kib={before} rss_after_kib={after} bytes_per_client={per:.0f}")

asyncio.run(main())
