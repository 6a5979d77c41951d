#!/usr/bin/env python3
"""bench/gate.py -- a TCP port that "comes up" at a known instant (for bench/wait.sh).

    gate.py --port P --target-port T (--listen-at MONO_NS | --delay SECONDS) --stamp FILE

Until the chosen instant nothing is bound on 127.0.0.1:P, so a client gets
"connection refused", exactly as while a database container is still starting.
At the instant it binds and listens, writes time.monotonic_ns() taken right
after listen() to FILE (CLOCK_MONOTONIC: comparable with the harness's
time.monotonic_ns() in another process), and from then on forwards every
connection, both ways, to the already-running server on 127.0.0.1:T.
Runs until SIGTERM/SIGINT. Loopback only.
"""
import argparse
import asyncio
import os
import signal
import socket
import time

HOST = "127.0.0.1"


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def handler(target_port):
    async def handle(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection(HOST, target_port)
        except OSError:
            cwriter.close()
            return
        for s in (cwriter, swriter):
            sock = s.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter))
        except asyncio.CancelledError:
            pass  # gate stopped while a connection was open: nothing to report
    return handle


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target-port", type=int, required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--listen-at", type=int, help="time.monotonic_ns() at which to listen")
    g.add_argument("--delay", type=float, help="seconds from now")
    ap.add_argument("--stamp", required=True)
    a = ap.parse_args()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    at = a.listen_at if a.listen_at is not None else time.monotonic_ns() + int(a.delay * 1e9)
    # Sleep coarsely, then spin the last millisecond so listen() happens close to `at`.
    while True:
        left = at - time.monotonic_ns()
        if left <= 0:
            break
        if left > 2_000_000:
            try:
                await asyncio.wait_for(stop.wait(), (left - 1_000_000) / 1e9)
                return  # stopped before listening
            except asyncio.TimeoutError:
                pass
        else:
            time.sleep(left / 1e9)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, a.port))
    sock.listen(128)
    listened = time.monotonic_ns()
    tmp = a.stamp + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{listened}\n")
    os.replace(tmp, a.stamp)

    server = await asyncio.start_server(handler(a.target_port), sock=sock)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
