#!/usr/bin/python3
"""Drivers for the end-host tier of the handshaked netns lab (test_endhost_*).

The end host makes many connections to a remote namespace whose servers
either close first or wait for the client to close, and leaks some of them
in CLOSE_WAIT, as a program that forgets to close its sockets does.  Every
subcommand runs inside one namespace, reports on stdout one line per event
(flushed at once) and bounds every wait.

    servers --close-first A --peer-closes B --hold-open C [--backlog N] [--hold S]
        listens on every address of both families on three ports:
        A accepts, sends 64 bytes and closes (the server closes first);
        B accepts, reads until the client's FIN, then closes (the client
        closes first); C accepts and keeps the connection open, idle.
        Prints LISTENING A B C, then holds for S seconds.
    clients --v4 ADDR --v6 ADDR --close-first A --peer-closes B
            [--count N] [--concurrency C] [--leak L] [--control PORT]
            [--mirror M] [--timeout S] [--hold S]
        with --control, first opens one idle connection per family to PORT
        and prints CONTROL 4|6 LOCALPORT; with --mirror too, M more to PORT
        (alternating families) that the client half-closes (shutdown of its
        write side) at once, which the hold-open server never answers: the
        host's socket waits in FIN_WAIT_2 facing a remote CLOSE_WAIT, the
        mirror image of a leak.  Prints MIRROR 4|6 LOCALPORT for each.  Then N connections, C at a time,
        alternating IPv4 and IPv6, in a fixed shuffled order: half to B (the
        client writes 64 bytes and closes first), half to A (the client
        reads until the server's FIN, then closes), except L of those to A
        which are never closed (leaked in CLOSE_WAIT).  Prints
        SUMMARY ok K failed F leaked L (and FAILED reason counts), then
        LEAKED 4|6 LOCALPORT for each leaked socket, then READY, and keeps
        the leaked and control sockets open for S seconds.
    loopback --port P [--rounds K] [--hold S]
        in each family, a server on the loopback address (127.0.0.1, ::1)
        and a client connected to it exchange K requests of 100 bytes, each
        echoed; prints LOOPBACK 4|6 CLIENTPORT, then READY, and keeps both
        connections open and idle for S seconds.
    tally-flows --ports P,P,... < `handshakectl list --json`
        counts the flows to those server ports by the state of their local
        endpoint(s); prints STATE COUNT lines, sorted (CLOSED included).
    tally-ss --ports P,P,... < `ss -tanH`
        counts the sockets whose peer port is one of those by state, with
        handshakectl's names; prints STATE COUNT lines, sorted.
    stat PATH < `handshakectl stats --json`
        prints one number of the stats object (PATH like resets.sent).

Runs with /usr/bin/python3 (no module beyond the standard library).
"""

import argparse
import asyncio
import collections
import json
import random
import signal
import socket
import sys
import time


def emit(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def listener(port, backlog):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(backlog)
    s.setblocking(False)
    return s


async def serve(loop, lsock, handler, held):
    while True:
        conn, _ = await loop.sock_accept(lsock)
        conn.setblocking(False)
        asyncio.ensure_future(handler(loop, conn, held))


async def close_first(loop, conn, held):
    try:
        await loop.sock_sendall(conn, b"x" * 64)
    except OSError:
        pass
    conn.close()


async def peer_closes(loop, conn, held):
    try:
        while True:
            data = await asyncio.wait_for(loop.sock_recv(conn, 4096), 30)
            if not data:
                break
    except (OSError, asyncio.TimeoutError):
        pass
    conn.close()


async def hold_open(loop, conn, held):
    held.append(conn)


def cmd_servers(args):
    loop = asyncio.new_event_loop()
    held = []
    socks = [(listener(args.close_first, args.backlog), close_first),
             (listener(args.peer_closes, args.backlog), peer_closes),
             (listener(args.hold_open, args.backlog), hold_open)]
    for lsock, handler in socks:
        loop.create_task(serve(loop, lsock, handler, held))
    emit("LISTENING", args.close_first, args.peer_closes, args.hold_open)
    loop.run_until_complete(asyncio.sleep(args.hold))
    emit("DONE")


async def recv_until_eof(loop, s, timeout):
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError()
        data = await asyncio.wait_for(loop.sock_recv(s, 4096), left)
        if not data:
            return


async def open_conn(loop, addr, port, timeout):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(s, (addr, port)), timeout)
    except BaseException:
        s.close()
        raise
    return s


async def one_job(loop, sem, job, args, kept, results):
    fam, kind = job
    addr = args.v4 if fam == 4 else args.v6
    port = args.peer_closes if kind == "b" else args.close_first
    async with sem:
        try:
            s = await open_conn(loop, addr, port, args.timeout)
        except asyncio.TimeoutError:
            results["connect timeout"] += 1
            return
        except OSError as e:
            results["connect " + (e.strerror or str(e))] += 1
            return
        try:
            if kind == "b":
                await loop.sock_sendall(s, b"y" * 64)
            else:
                await recv_until_eof(loop, s, args.timeout)
        except (OSError, asyncio.TimeoutError) as e:
            results["io " + type(e).__name__] += 1
            s.close()
            return
        if kind == "leak":
            kept.append((fam, s))
        else:
            s.close()
        results["ok"] += 1


def jobs_for(args):
    n_a = args.count // 2
    kinds = ["leak"] * args.leak + ["a"] * (n_a - args.leak) + ["b"] * (args.count - n_a)
    random.Random(9).shuffle(kinds)
    # Families alternate over the shuffled order, and so do the leaks' (the shuffle mixes them).
    return [(4 if i % 2 == 0 else 6, k) for i, k in enumerate(kinds)]


async def run_clients(loop, args):
    control = []
    if args.control:
        for fam, addr in ((4, args.v4), (6, args.v6)):
            s = await open_conn(loop, addr, args.control, args.timeout)
            control.append(s)
            emit("CONTROL", fam, s.getsockname()[1])
        for i in range(args.mirror):
            fam, addr = (4, args.v4) if i % 2 == 0 else (6, args.v6)
            s = await open_conn(loop, addr, args.control, args.timeout)
            s.shutdown(socket.SHUT_WR)
            control.append(s)
            emit("MIRROR", fam, s.getsockname()[1])
    sem = asyncio.Semaphore(args.concurrency)
    kept, results = [], collections.Counter()
    t0 = time.monotonic()
    await asyncio.gather(*(one_job(loop, sem, job, args, kept, results) for job in jobs_for(args)))
    failed = sum(n for k, n in results.items() if k != "ok")
    emit("SUMMARY", "ok", results["ok"], "failed", failed, "leaked", len(kept),
         "ms", int((time.monotonic() - t0) * 1000))
    for k, n in sorted(results.items()):
        if k != "ok":
            emit("FAILED", n, k)
    for fam, s in kept:
        emit("LEAKED", fam, s.getsockname()[1])
    emit("READY")
    await asyncio.sleep(args.hold)
    return kept, control


def cmd_clients(args):
    if args.leak > args.count // 2:
        sys.exit("clients: --leak is more than the connections to the close-first port")
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    try:
        loop.run_until_complete(run_clients(loop, args))
    except RuntimeError:
        pass     # stopped by SIGTERM: the sockets close as the process ends
    emit("DONE")


def cmd_loopback(args):
    kept = []
    for fam, addr, af in ((4, "127.0.0.1", socket.AF_INET), (6, "::1", socket.AF_INET6)):
        ls = socket.socket(af, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, args.port))
        ls.listen(4)
        c = socket.create_connection((addr, args.port), timeout=5)
        ls.settimeout(5)
        srv, _ = ls.accept()
        srv.settimeout(5)
        for _ in range(args.rounds):
            c.sendall(b"q" * 100)
            got = b""
            while len(got) < 100:
                got += srv.recv(100 - len(got))
            srv.sendall(got)
            got = b""
            while len(got) < 100:
                got += c.recv(100 - len(got))
        kept += [ls, c, srv]
        emit("LOOPBACK", fam, c.getsockname()[1])
    emit("READY")
    time.sleep(args.hold)
    emit("DONE")


# ---- counting, for the tests' comparisons ----

SS_NAMES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RCVD",
    "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "CLOSING": "CLOSING",
    "TIME-WAIT": "TIME_WAIT", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN", "UNCONN": "CLOSED", "CLOSE": "CLOSED",
}


def ports_of(text):
    return {int(p) for p in text.split(",") if p}


def print_tally(counts):
    for state in sorted(counts):
        emit(state, counts[state])


def cmd_tally_flows(args):
    ports, counts = ports_of(args.ports), collections.Counter()
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        f = json.loads(line)
        if f["server"]["port"] not in ports:
            continue
        local = f.get("local")
        sides = {"client": ["client"], "server": ["server"], "both": ["client", "server"]}.get(local, [])
        for side in sides:
            counts[f[side]["state"]] += 1
    print_tally(counts)


def cmd_tally_ss(args):
    ports, counts = ports_of(args.ports), collections.Counter()
    for line in sys.stdin:
        w = line.split()
        if len(w) < 5:
            continue
        peer_port = w[4].rsplit(":", 1)[-1]
        if peer_port.isdigit() and int(peer_port) in ports:
            counts[SS_NAMES.get(w[0], "UNKNOWN_" + w[0])] += 1
    print_tally(counts)


def cmd_stat(args):
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("{"):
            v = json.loads(line)
            for k in args.path.split("."):
                v = v[k]
            emit(v)
            return
    sys.exit("stat: no JSON object on stdin")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("servers")
    sv.add_argument("--close-first", type=int, required=True)
    sv.add_argument("--peer-closes", type=int, required=True)
    sv.add_argument("--hold-open", type=int, required=True)
    sv.add_argument("--backlog", type=int, default=1024)
    sv.add_argument("--hold", type=float, default=300.0)
    cl = sub.add_parser("clients")
    cl.add_argument("--v4", required=True)
    cl.add_argument("--v6", required=True)
    cl.add_argument("--close-first", type=int, required=True)
    cl.add_argument("--peer-closes", type=int, required=True)
    cl.add_argument("--count", type=int, default=2000)
    cl.add_argument("--concurrency", type=int, default=200)
    cl.add_argument("--leak", type=int, default=300)
    cl.add_argument("--control", type=int, default=0)
    cl.add_argument("--mirror", type=int, default=0)
    cl.add_argument("--timeout", type=float, default=10.0)
    cl.add_argument("--hold", type=float, default=300.0)
    lo = sub.add_parser("loopback")
    lo.add_argument("--port", type=int, required=True)
    lo.add_argument("--rounds", type=int, default=5)
    lo.add_argument("--hold", type=float, default=120.0)
    tf = sub.add_parser("tally-flows")
    tf.add_argument("--ports", required=True)
    ts = sub.add_parser("tally-ss")
    ts.add_argument("--ports", required=True)
    st = sub.add_parser("stat")
    st.add_argument("path")
    args = p.parse_args()
    {"servers": cmd_servers, "clients": cmd_clients, "loopback": cmd_loopback, "tally-flows": cmd_tally_flows,
     "tally-ss": cmd_tally_ss, "stat": cmd_stat}[args.cmd](args)


if __name__ == "__main__":
    main()
