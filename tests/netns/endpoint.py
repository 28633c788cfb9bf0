#!/usr/bin/python3
"""Endpoint drivers for the handshaked netns lab.

Each subcommand runs inside one network namespace (started by lib.sh with
`ip netns exec`) and puts a real kernel socket into a given TCP state, then
keeps it there for --hold seconds so that a test can read `ss` and
`handshakectl list --json` while nothing moves.  Every wait is bounded.

Progress is reported on stdout, one line per event, flushed at once, so a
test can wait for a line in the output file:

    LISTENING <port>            server: listening socket ready
    ACCEPTED <peer-port>        server: a connection was accepted
    EOF <peer-port>             server: the client's FIN arrived
    RESET <peer-port>           server: the connection was reset
    SHUTDOWN <port>             shutdown(SHUT_WR) done (our FIN is queued)
    LOCAL <port>                client: local port chosen (before connect ends)
    CONNECTED <port>            client: handshake complete
    CONNECT_TIMEOUT <port>      client: no SYN-ACK within --connect-timeout
    CONNECT_FAILED <port> <err> client: refused/unreachable
    ECHO_OK <bytes>             client: the data came back
    CLOSED <port> / ABORTED <port>
    SENT <count>                syn/flood: packets handed to the kernel
    DONE                        the hold period ended normally

Subcommands:
    server PORT [--ipv6] [--bind ADDR] [--no-close] [--close-first] [--abort]
                [--no-echo] [--trigger FILE] [--hold S]
    client ADDR PORT [--sport P] [--connect-timeout S] [--send N] [--echo]
                [--stream S] [--shutdown-write | --close | --abort]
                [--trigger FILE] [--hold S]
    syn ADDR PORT --sport P [--src ADDR] [--count N]      (scapy, raw SYN)
    flood ADDR PORT [--count N] [--sport-base P]           (raw IPv4 SYNs)

Runs with /usr/bin/python3 (Debian's python3-scapy is installed for it).
"""

import argparse
import errno
import os
import random
import select
import socket
import struct
import sys
import threading
import time

_out_lock = threading.Lock()


def emit(*words):
    with _out_lock:
        sys.stdout.write(" ".join(str(w) for w in words) + "\n")
        sys.stdout.flush()


def die(msg, code=2):
    sys.stderr.write("endpoint.py: %s\n" % msg)
    sys.stderr.flush()
    os._exit(code)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def wait_trigger(path, deadline):
    """Waits until the file `path` exists; False if the deadline passed."""
    if not path:
        return True
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    return False


def set_linger_zero(sock):
    # struct linger { int l_onoff; int l_linger; }: close() sends RST.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def sleep_until(deadline):
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


# --------------------------------------------------------------------------
# server


def serve_conn(conn, peer_port, args, deadline):
    try:
        if args.close_first:
            if not wait_trigger(args.trigger, deadline):
                return
            conn.shutdown(socket.SHUT_WR)
            emit("SHUTDOWN", peer_port)
        conn.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT):
                    emit("RESET", peer_port)
                    sleep_until(deadline)
                    return
                raise
            if not data:
                emit("EOF", peer_port)
                break
            if args.echo and not args.close_first:
                conn.settimeout(None)
                try:
                    conn.sendall(data)
                except OSError:
                    emit("RESET", peer_port)
                    sleep_until(deadline)
                    return
                conn.settimeout(0.5)
        else:
            return
        # The client's FIN arrived: we are CLOSE_WAIT (or, having closed
        # first, already done).
        if not args.no_close and not args.close_first:
            if not wait_trigger(args.trigger, deadline):
                return
            if args.abort:
                set_linger_zero(conn)
                conn.close()
                emit("ABORTED", peer_port)
                return
            # shutdown rather than close: the socket stays ours (LAST_ACK,
            # then CLOSED), never an orphan with its own short timers.
            conn.shutdown(socket.SHUT_WR)
            emit("SHUTDOWN", peer_port)
        sleep_until(deadline)
    except Exception as e:  # keep the listener alive whatever one conn does
        emit("ERROR", peer_port, repr(e))
    finally:
        # The process exits at the deadline; keep the fd until then.
        pass


def cmd_server(args):
    deadline = time.monotonic() + args.hold
    fam = socket.AF_INET6 if args.ipv6 else socket.AF_INET
    bind = args.bind or ("::" if args.ipv6 else "0.0.0.0")
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind((bind, args.port))
    ls.listen(128)
    ls.settimeout(0.25)
    emit("LISTENING", args.port)
    conns = []
    while time.monotonic() < deadline:
        try:
            conn, peer = ls.accept()
        except socket.timeout:
            continue
        conns.append(conn)  # keep a reference: the fd must outlive the thread
        emit("ACCEPTED", peer[1])
        t = threading.Thread(target=serve_conn, args=(conn, peer[1], args, deadline), daemon=True)
        t.start()
    emit("DONE")
    sys.stdout.flush()
    os._exit(0)


# --------------------------------------------------------------------------
# client


def cmd_client(args):
    deadline = time.monotonic() + args.connect_timeout + args.hold + max(args.stream, 0) + 5
    fam = family_of(args.addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    if args.sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", args.sport))
    s.setblocking(False)
    err = s.connect_ex((args.addr, args.port))
    lport = s.getsockname()[1]
    emit("LOCAL", lport)
    if err not in (0, errno.EINPROGRESS):
        emit("CONNECT_FAILED", lport, errno.errorcode.get(err, err))
        return 3
    _, w, _ = select.select([], [s], [], args.connect_timeout)
    if not w:
        emit("CONNECT_TIMEOUT", lport)
        return 3
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        emit("CONNECT_FAILED", lport, errno.errorcode.get(err, err))
        return 3
    emit("CONNECTED", lport)
    s.setblocking(True)
    s.settimeout(args.io_timeout)

    if args.send:
        payload = os.urandom(args.send)
        s.sendall(payload)
        if args.echo:
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(len(payload) - len(got))
                if not chunk:
                    break
                got += chunk
            if got != payload:
                emit("ECHO_BAD", len(got))
                return 4
            emit("ECHO_OK", len(got))

    if args.stream > 0:
        end = time.monotonic() + args.stream
        total = 0
        chunk = os.urandom(1024)
        while time.monotonic() < end:
            s.sendall(chunk)
            got = b""
            while len(got) < len(chunk):
                part = s.recv(len(chunk) - len(got))
                if not part:
                    emit("STREAM_EOF", total)
                    return 4
                got += part
            if got != chunk:
                emit("ECHO_BAD", total)
                return 4
            total += len(chunk)
            time.sleep(0.002)
        emit("STREAMED", total)

    hold_end = time.monotonic() + args.hold
    if args.shutdown_write or args.close or args.abort:
        if not wait_trigger(args.trigger, hold_end):
            emit("TRIGGER_TIMEOUT")
            return 5
        if args.abort:
            set_linger_zero(s)
            s.close()
            emit("ABORTED", lport)
        elif args.close:
            s.close()
            emit("CLOSED", lport)
        else:
            s.shutdown(socket.SHUT_WR)
            emit("SHUTDOWN", lport)
    sleep_until(min(hold_end, deadline))
    emit("DONE")
    return 0


# --------------------------------------------------------------------------
# raw packets


def cmd_syn(args):
    """One raw SYN (scapy), with no kernel socket behind it."""
    import logging

    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    try:
        from scapy.all import IP, IPv6, TCP, conf, send
        from scapy.supersocket import L3RawSocket
        from scapy.layers.inet6 import L3RawSocket6
    except ImportError as e:
        die("scapy is not importable by %s (%s): install python3-scapy" % (sys.executable, e))
    # Let the kernel route and resolve neighbours: no ARP/ND done by scapy.
    conf.L3socket = L3RawSocket
    conf.L3socket6 = L3RawSocket6
    conf.verb = 0
    seq = random.randint(1, 2**32 - 1)
    if family_of(args.addr) == socket.AF_INET6:
        ip = IPv6(dst=args.addr, src=args.src) if args.src else IPv6(dst=args.addr)
    else:
        ip = IP(dst=args.addr, src=args.src) if args.src else IP(dst=args.addr)
    pkt = ip / TCP(sport=args.sport, dport=args.port, flags="S", seq=seq, window=64240,
                   options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)])
    for _ in range(args.count):
        send(pkt, verbose=0)
    emit("SENT", args.count, "seq", seq)
    return 0


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def cmd_flood(args):
    """Many IPv4 SYNs from our own address through a raw socket, bounded by
    --count and --max-seconds.  Used to fill the NFQUEUE of a stopped daemon."""
    if family_of(args.addr) != socket.AF_INET:
        die("flood: IPv4 only")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((args.addr, 9))  # UDP connect: route lookup, no packet
    src = probe.getsockname()[0]
    probe.close()
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(args.addr)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = errors = 0
    end = time.monotonic() + args.max_seconds
    for i in range(args.count):
        if (i & 1023) == 0 and time.monotonic() > end:
            break
        sport = args.sport_base + (i % 20000)
        seq = random.getrandbits(32)
        tcp = struct.pack("!HHIIBBHHH", sport, args.port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = saddr + daddr + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0, 64,
                          socket.IPPROTO_TCP, 0, saddr, daddr)
        try:
            raw.sendto(iph + tcp, (args.addr, 0))
            sent += 1
        except OSError:
            errors += 1
            time.sleep(0.001)
    emit("SENT", sent, "errors", errors)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    sv = sub.add_parser("server")
    sv.add_argument("port", type=int)
    sv.add_argument("--ipv6", action="store_true")
    sv.add_argument("--bind")
    sv.add_argument("--no-close", action="store_true",
                    help="after the client's FIN, stay in CLOSE_WAIT")
    sv.add_argument("--close-first", action="store_true",
                    help="shutdown(SHUT_WR) right after accept (after --trigger)")
    sv.add_argument("--abort", action="store_true",
                    help="after the client's FIN, close with SO_LINGER 0 (RST)")
    sv.add_argument("--no-echo", dest="echo", action="store_false")
    sv.add_argument("--trigger", help="wait for this file before closing")
    sv.add_argument("--hold", type=float, default=60.0)

    cl = sub.add_parser("client")
    cl.add_argument("addr")
    cl.add_argument("port", type=int)
    cl.add_argument("--sport", type=int, default=0)
    cl.add_argument("--connect-timeout", type=float, default=10.0)
    cl.add_argument("--io-timeout", type=float, default=10.0)
    cl.add_argument("--send", type=int, default=0, help="send N random bytes")
    cl.add_argument("--echo", action="store_true", help="expect --send's bytes back")
    cl.add_argument("--stream", type=float, default=0.0,
                    help="send 1 KiB chunks and read the echo for S seconds")
    g = cl.add_mutually_exclusive_group()
    g.add_argument("--shutdown-write", action="store_true")
    g.add_argument("--close", action="store_true")
    g.add_argument("--abort", action="store_true", help="SO_LINGER 0 then close: RST")
    cl.add_argument("--trigger", help="wait for this file before the close action")
    cl.add_argument("--hold", type=float, default=60.0)

    sy = sub.add_parser("syn")
    sy.add_argument("addr")
    sy.add_argument("port", type=int)
    sy.add_argument("--sport", type=int, required=True)
    sy.add_argument("--src")
    sy.add_argument("--count", type=int, default=1)

    fl = sub.add_parser("flood")
    fl.add_argument("addr")
    fl.add_argument("port", type=int)
    fl.add_argument("--count", type=int, default=10000)
    fl.add_argument("--sport-base", type=int, default=20000)
    fl.add_argument("--max-seconds", type=float, default=20.0)

    args = p.parse_args()
    try:
        if args.cmd == "server":
            return cmd_server(args)
        if args.cmd == "client":
            return cmd_client(args)
        if args.cmd == "syn":
            return cmd_syn(args)
        return cmd_flood(args)
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        emit("ERROR", repr(e))
        return 6


if __name__ == "__main__":
    sys.exit(main())
