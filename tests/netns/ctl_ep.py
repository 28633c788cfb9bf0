#!/usr/bin/python3
"""Endpoint drivers for the handshakectl tests of the handshaked netns lab.

The CLI tests need many connections held in known states at once: a server
that never closes what it accepts, and a client that opens N connections
and either holds them (ESTABLISHED on both ends) or half-closes them
(client FIN_WAIT_2, server CLOSE_WAIT), or a churn of short connections.
Every subcommand runs inside one namespace, reports on stdout one line per
event (flushed at once) and bounds every wait.

    server ADDR PORT [--hold S]
        listens on ADDR:PORT (IPv4 or IPv6), accepts every connection and
        never closes one; prints LISTENING ADDR PORT, then ACCEPTED N as
        they come (every 10), then DONE N after S seconds.
    clients ADDR PORT --count N [--half-close] [--hold S] [--timeout S]
        opens N connections (non-blocking, all at once), waits for each
        to connect, shuts down the write side of each with --half-close,
        prints LOCAL PORT for each, then SUMMARY ok K of N and READY, then
        holds them open for S seconds and prints DONE.
    churn ADDR PORT --count N [--interval S]
        N connections one after another: connect, send "x", close at once
        (the server never closes: its side stays in CLOSE_WAIT until it is
        reset or the test ends).  Prints CONN I LPORT for each, then DONE.

Runs with /usr/bin/python3 (no module beyond the standard library).
"""

import argparse
import errno
import select
import socket
import sys
import time


def emit(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def cmd_server(args):
    fam = family_of(args.addr)
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.addr, args.port))
    ls.listen(1024)
    ls.settimeout(0.25)
    emit("LISTENING", args.addr, args.port)
    held = []
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        try:
            conn, _ = ls.accept()
        except (socket.timeout, OSError):
            continue
        held.append(conn)
        if len(held) % 10 == 0:
            emit("ACCEPTED", len(held))
    emit("DONE", len(held))
    return 0


def cmd_clients(args):
    fam = family_of(args.addr)
    socks = []
    for _ in range(args.count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((args.addr, args.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            continue
        socks.append(s)
    pending = list(socks)
    ok = []
    end = time.monotonic() + args.timeout
    while pending and time.monotonic() < end:
        _, w, _ = select.select([], pending, [], 0.5)
        for s in w:
            pending.remove(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                ok.append(s)
    for s in ok:
        if args.half_close:
            s.shutdown(socket.SHUT_WR)
        emit("LOCAL", s.getsockname()[1])
    emit("SUMMARY", "ok", len(ok), "of", args.count)
    emit("READY")
    hold_end = time.monotonic() + args.hold
    while time.monotonic() < hold_end:
        time.sleep(min(0.5, max(0.0, hold_end - time.monotonic())))
    emit("DONE")
    return 0


def cmd_churn(args):
    fam = family_of(args.addr)
    for i in range(args.count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((args.addr, args.port))
            s.send(b"x")
            emit("CONN", i, s.getsockname()[1])
        except OSError as e:
            emit("FAILED", i, errno.errorcode.get(e.errno, str(e.errno)))
        s.close()
        time.sleep(args.interval)
    emit("DONE")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("server")
    sv.add_argument("addr")
    sv.add_argument("port", type=int)
    sv.add_argument("--hold", type=float, default=120.0)
    cl = sub.add_parser("clients")
    cl.add_argument("addr")
    cl.add_argument("port", type=int)
    cl.add_argument("--count", type=int, required=True)
    cl.add_argument("--half-close", action="store_true")
    cl.add_argument("--hold", type=float, default=120.0)
    cl.add_argument("--timeout", type=float, default=10.0)
    ch = sub.add_parser("churn")
    ch.add_argument("addr")
    ch.add_argument("port", type=int)
    ch.add_argument("--count", type=int, required=True)
    ch.add_argument("--interval", type=float, default=0.0)
    args = p.parse_args()
    return {"server": cmd_server, "clients": cmd_clients, "churn": cmd_churn}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
