#!/usr/bin/python3
"""Endpoint drivers for the policy tests of the handshaked netns lab.

endpoint.py puts single sockets into given TCP states; the policy tests also
need a listener with a small backlog, many connections counted, several
connections opened at once and timed, and sockets that report how a blocking
read ended.  Like endpoint.py, every subcommand runs inside one namespace,
reports on stdout one line per event (flushed at once) and bounds every wait.

    server PORT [--ipv6] [--backlog N] [--hold S]
        accepts, sends "ok\\n" and closes each connection.
        Prints LISTENING PORT, then DONE ACCEPTED_COUNT at the end.
    count ADDR PORT [--bind SRC] [--parallel P] [--duration S] [--max N]
                    [--timeout S] [--interval S]
        P threads each connect, read the server's "ok\\n" and close, again
        and again, for S seconds or until N attempts were started; every
        connect and read has a timeout.  Prints one line per attempt
        (OK MS / FAIL MS REASON) and at the end
        RESULT attempts A ok K failed F rate PERCENT p50_ms X max_ms Y
    multi ADDR PORT [--bind SRC] [--count N] [--timeout S] [--hold S]
        starts N non-blocking connects at once and prints for each
        CONN I OK MS LPORT | CONN I TIMEOUT MS | CONN I FAILED MS ERR
        (MS: milliseconds from the start), then SUMMARY ok K of N, then
        keeps the connected sockets open for --hold seconds, then DONE.
    hold-server PORT [--ipv6] [--timeout S]
        accepts one connection, echoes the client's first message, prints
        ACCEPTED PEERPORT and READY, then blocks in recv() and prints how it
        ended: READ_END ECONNRESET|EOF|TIMEOUT|DATA|<errno name> MS.
    hold-client ADDR PORT [--timeout S]
        connects, prints LOCAL PORT and CONNECTED PORT, sends "hello",
        reads the echo, prints READY, then blocks in recv() the same way.

Runs with /usr/bin/python3 (no module beyond the standard library).
"""

import argparse
import errno
import os
import select
import socket
import sys
import threading
import time

_out_lock = threading.Lock()


def emit(*words):
    with _out_lock:
        sys.stdout.write(" ".join(str(w) for w in words) + "\n")
        sys.stdout.flush()


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def ms_since(t0):
    return int((time.monotonic() - t0) * 1000)


def errname(e):
    return errno.errorcode.get(e, str(e))


# --------------------------------------------------------------------------
# server: small backlog, "ok\n" and close


def cmd_server(args):
    fam = socket.AF_INET6 if args.ipv6 else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind(("::" if args.ipv6 else "0.0.0.0", args.port))
    ls.listen(args.backlog)
    ls.settimeout(0.25)
    emit("LISTENING", args.port, "backlog", args.backlog)
    deadline = time.monotonic() + args.hold
    accepted = 0
    while time.monotonic() < deadline:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        except OSError:
            continue
        accepted += 1
        try:
            conn.setblocking(False)
            conn.send(b"ok\n")
        except OSError:
            pass
        conn.close()
    emit("DONE", accepted)
    return 0


# --------------------------------------------------------------------------
# count: many real connections, each bounded


def one_attempt(addr, port, bind, timeout, wait_eof=False):
    """Returns (ok, reason).  With wait_eof the socket is closed only after
    the server's FIN has arrived, so the server is the one that closed
    first and holds the TIME_WAIT (closing as soon as the line is read can
    cross the server's FIN and leave TIME_WAIT on this side)."""
    fam = family_of(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        if bind:
            s.bind((bind, 0))
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except socket.timeout:
            return False, "connect_timeout"
        except OSError as e:
            return False, "connect_" + errname(e.errno)
        end = time.monotonic() + timeout
        got = b""
        while b"\n" not in got:
            left = end - time.monotonic()
            if left <= 0:
                return False, "read_timeout"
            s.settimeout(left)
            try:
                part = s.recv(16)
            except socket.timeout:
                return False, "read_timeout"
            except OSError as e:
                return False, "read_" + errname(e.errno)
            if not part:
                return False, "read_eof"
            got += part
        while wait_eof:
            left = end - time.monotonic()
            if left <= 0:
                return False, "eof_timeout"
            s.settimeout(left)
            try:
                if not s.recv(16):
                    break
            except socket.timeout:
                return False, "eof_timeout"
            except OSError as e:
                return False, "eof_" + errname(e.errno)
        return got.startswith(b"ok"), "ok" if got.startswith(b"ok") else "bad_reply"
    finally:
        s.close()


def cmd_count(args):
    lock = threading.Lock()
    state = {"started": 0, "ok": 0, "failed": 0, "lat": []}
    t0 = time.monotonic()
    stop_at = t0 + args.duration

    def worker():
        while True:
            with lock:
                if time.monotonic() >= stop_at or state["started"] >= args.max:
                    return
                state["started"] += 1
                n = state["started"]
            a = time.monotonic()
            ok, reason = one_attempt(args.addr, args.port, args.bind, args.timeout, args.wait_eof)
            ms = ms_since(a)
            with lock:
                if ok:
                    state["ok"] += 1
                    state["lat"].append(ms)
                else:
                    state["failed"] += 1
            if args.interval > 0:
                time.sleep(args.interval)
            if ok:
                if args.verbose:
                    emit("OK", n, ms)
            else:
                emit("FAIL", n, ms, reason)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        # Each attempt is bounded by 2 x timeout, so this join is too.
        t.join(args.duration + 2 * args.timeout + 5)
    attempts = state["ok"] + state["failed"]
    lat = sorted(state["lat"])
    p50 = lat[len(lat) // 2] if lat else -1
    mx = lat[-1] if lat else -1
    rate = (100.0 * state["ok"] / attempts) if attempts else 0.0
    emit("RESULT", "attempts", attempts, "ok", state["ok"], "failed", state["failed"],
         "rate", "%.1f" % rate, "p50_ms", p50, "max_ms", mx, "elapsed_ms", ms_since(t0))
    return 0


# --------------------------------------------------------------------------
# multi: N connects at once, timed


def cmd_multi(args):
    fam = family_of(args.addr)
    t0 = time.monotonic()
    socks = {}
    result = {}
    for i in range(args.count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if args.bind:
            s.bind((args.bind, 0))
        s.setblocking(False)
        err = s.connect_ex((args.addr, args.port))
        if err not in (0, errno.EINPROGRESS):
            result[i] = ("FAILED", ms_since(t0), errname(err))
            emit("CONN", i, "FAILED", ms_since(t0), errname(err))
            s.close()
            continue
        socks[i] = s
    pending = dict(socks)
    end = t0 + args.timeout
    while pending:
        left = end - time.monotonic()
        if left <= 0:
            break
        _, w, _ = select.select([], list(pending.values()), [], min(left, 0.5))
        for s in w:
            i = next(k for k, v in pending.items() if v is s)
            del pending[i]
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                result[i] = ("FAILED", ms_since(t0), errname(err))
                emit("CONN", i, "FAILED", ms_since(t0), errname(err))
                s.close()
                del socks[i]
            else:
                result[i] = ("OK", ms_since(t0))
                emit("CONN", i, "OK", ms_since(t0), s.getsockname()[1])
    for i, s in pending.items():
        result[i] = ("TIMEOUT", ms_since(t0))
        emit("CONN", i, "TIMEOUT", ms_since(t0))
        s.close()
        del socks[i]
    ok = sum(1 for r in result.values() if r[0] == "OK")
    emit("SUMMARY", "ok", ok, "of", args.count)
    hold_end = time.monotonic() + args.hold
    while time.monotonic() < hold_end:
        time.sleep(min(0.5, max(0.0, hold_end - time.monotonic())))
    emit("DONE")
    return 0


# --------------------------------------------------------------------------
# hold-server / hold-client: how does a blocking read end?


def read_until_end(s, timeout):
    s.setblocking(True)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        data = s.recv(4096)
    except socket.timeout:
        emit("READ_END", "TIMEOUT", ms_since(t0))
        return 1
    except OSError as e:
        emit("READ_END", errname(e.errno), ms_since(t0))
        return 0 if e.errno == errno.ECONNRESET else 1
    if not data:
        emit("READ_END", "EOF", ms_since(t0))
    else:
        emit("READ_END", "DATA", ms_since(t0), len(data))
    return 1


def cmd_hold_server(args):
    fam = socket.AF_INET6 if args.ipv6 else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind(("::" if args.ipv6 else "0.0.0.0", args.port))
    ls.listen(4)
    ls.settimeout(args.timeout)
    emit("LISTENING", args.port)
    try:
        conn, peer = ls.accept()
    except socket.timeout:
        emit("ACCEPT_TIMEOUT")
        return 3
    ls.close()  # only this connection matters; the listener would show in ss
    emit("ACCEPTED", peer[1])
    conn.settimeout(args.timeout)
    try:
        data = conn.recv(64)
        conn.sendall(data)
    except OSError as e:
        emit("ERROR", errname(e.errno) if e.errno else repr(e))
        return 4
    emit("READY")
    rc = read_until_end(conn, args.timeout)
    conn.close()
    return rc


def cmd_hold_client(args):
    fam = family_of(args.addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 0))
    lport = s.getsockname()[1]
    emit("LOCAL", lport)
    try:
        s.connect((args.addr, args.port))
    except OSError as e:
        emit("CONNECT_FAILED", lport, repr(e))
        return 3
    emit("CONNECTED", lport)
    try:
        s.sendall(b"hello")
        got = b""
        while len(got) < 5:
            part = s.recv(5 - len(got))
            if not part:
                break
            got += part
    except OSError as e:
        emit("ERROR", repr(e))
        return 4
    if got != b"hello":
        emit("ECHO_BAD", len(got))
        return 4
    emit("READY")
    rc = read_until_end(s, args.timeout)
    s.close()
    return rc


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    sv = sub.add_parser("server")
    sv.add_argument("port", type=int)
    sv.add_argument("--ipv6", action="store_true")
    sv.add_argument("--backlog", type=int, default=128)
    sv.add_argument("--hold", type=float, default=60.0)

    co = sub.add_parser("count")
    co.add_argument("addr")
    co.add_argument("port", type=int)
    co.add_argument("--bind")
    co.add_argument("--parallel", type=int, default=4)
    co.add_argument("--duration", type=float, default=8.0)
    co.add_argument("--max", type=int, default=300)
    co.add_argument("--timeout", type=float, default=3.0)
    co.add_argument("--wait-eof", action="store_true",
                    help="close only after the server's FIN (the server then holds TIME_WAIT)")
    co.add_argument("--interval", type=float, default=0.0)
    co.add_argument("--verbose", action="store_true")

    mu = sub.add_parser("multi")
    mu.add_argument("addr")
    mu.add_argument("port", type=int)
    mu.add_argument("--bind")
    mu.add_argument("--count", type=int, default=1)
    mu.add_argument("--timeout", type=float, default=3.0)
    mu.add_argument("--hold", type=float, default=0.0)

    hs = sub.add_parser("hold-server")
    hs.add_argument("port", type=int)
    hs.add_argument("--ipv6", action="store_true")
    hs.add_argument("--timeout", type=float, default=30.0)

    hc = sub.add_parser("hold-client")
    hc.add_argument("addr")
    hc.add_argument("port", type=int)
    hc.add_argument("--timeout", type=float, default=30.0)

    args = p.parse_args()
    try:
        return {"server": cmd_server, "count": cmd_count, "multi": cmd_multi,
                "hold-server": cmd_hold_server, "hold-client": cmd_hold_client}[args.cmd](args)
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        emit("ERROR", repr(e))
        return 6


if __name__ == "__main__":
    sys.exit(main())
