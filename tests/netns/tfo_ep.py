#!/usr/bin/python3
"""TCP Fast Open endpoints for the handshaked netns lab (RFC 7413).

Real kernel sockets only: the client asks its kernel for Fast Open with
TCP_FASTOPEN_CONNECT (connect, then send) or with sendto(MSG_FASTOPEN);
the server listens with or without the TCP_FASTOPEN option.  Whether the
SYN's data was taken is read from each socket's TCP_INFO
(TCPI_OPT_SYN_DATA), so a test can tell a Fast Open connection from a
plain one without trusting the daemon it is testing.

Report lines on stdout, flushed at once:

    LISTENING <port>
    ACCEPTED <peer-port>
    REQUEST <peer-port> <syn-data 0|1>     server: request read; 1 = it came in the SYN
    CLOSED <port>                          our close() is done
    EOF <peer-port>                        server: the client's FIN arrived
    LOCAL <port>                           client: local port known
    REPLY <port> <syn-data 0|1>            client: reply read; 1 = the SYN's data was acknowledged
    FAILED <what> <error>

Subcommands:
    server PORT [--ipv6] [--tfo QLEN] [--count N] [--close-after-reply]
                [--trigger PREFIX] [--timeout S]
        Serves N connections one after the other: reads a request line,
        answers, then (unless --close-after-reply) waits for the client's
        FIN and for the file PREFIX.<peer-port> before closing.
    client ADDR PORT [--mode connect|sendto|plain] [--size N]
                [--trigger FILE] [--timeout S]
        Sends a request of N bytes, reads the reply, waits for FILE, closes.

Every wait is bounded by --timeout (default 10 s).
"""

import argparse
import os
import socket
import struct
import sys
import time

TCP_FASTOPEN = 23
TCP_FASTOPEN_CONNECT = 30
MSG_FASTOPEN = 0x20000000
TCPI_OPT_SYN_DATA = 32


def emit(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def syn_data(sock):
    """TCPI_OPT_SYN_DATA from TCP_INFO: data in the SYN was acknowledged (client) or taken (server)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return 1 if info[5] & TCPI_OPT_SYN_DATA else 0


def read_line(sock, deadline):
    data = b""
    while not data.endswith(b"\n"):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def wait_file(path, deadline):
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_eof(sock, deadline):
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        if not sock.recv(65536):
            return


def server(args):
    family = socket.AF_INET6 if args.ipv6 else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.tfo:
        ls.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, args.tfo)
    ls.bind(("::" if args.ipv6 else "0.0.0.0", args.port))
    ls.listen(16)
    emit("LISTENING", args.port)
    for _ in range(args.count):
        ls.settimeout(args.timeout)
        conn, peer = ls.accept()
        deadline = time.monotonic() + args.timeout
        emit("ACCEPTED", peer[1])
        request = read_line(conn, deadline)
        emit("REQUEST", peer[1], syn_data(conn))
        conn.sendall(b"R" * max(0, len(request) - 1) + b"\n")
        if not args.close_after_reply:
            wait_eof(conn, deadline)
            emit("EOF", peer[1])
            if args.trigger and not wait_file("%s.%d" % (args.trigger, peer[1]), deadline):
                emit("FAILED", "trigger", peer[1])
                return 1
        conn.close()
        emit("CLOSED", peer[1])
    return 0


def client(args):
    family = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    request = b"Q" * max(0, args.size - 1) + b"\n"
    deadline = time.monotonic() + args.timeout
    s.settimeout(args.timeout)
    try:
        if args.mode == "sendto":
            s.sendto(request, MSG_FASTOPEN, (args.addr, args.port))
            emit("LOCAL", s.getsockname()[1])
        else:
            if args.mode == "connect":
                s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
            s.connect((args.addr, args.port))
            emit("LOCAL", s.getsockname()[1])
            s.sendall(request)
        reply = read_line(s, deadline)
    except OSError as e:
        emit("FAILED", "exchange", e.errno)
        return 1
    port = s.getsockname()[1]
    if len(reply) != len(request):
        emit("FAILED", "reply", len(reply))
        return 1
    emit("REPLY", port, syn_data(s))
    if args.trigger and not wait_file(args.trigger, deadline):
        emit("FAILED", "trigger", port)
        return 1
    s.close()
    emit("CLOSED", port)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("server")
    ps.add_argument("port", type=int)
    ps.add_argument("--ipv6", action="store_true")
    ps.add_argument("--tfo", type=int, default=0)
    ps.add_argument("--count", type=int, default=1)
    ps.add_argument("--close-after-reply", action="store_true")
    ps.add_argument("--trigger")
    ps.add_argument("--timeout", type=float, default=10.0)
    pc = sub.add_parser("client")
    pc.add_argument("addr")
    pc.add_argument("port", type=int)
    pc.add_argument("--mode", choices=("connect", "sendto", "plain"), default="connect")
    pc.add_argument("--size", type=int, default=100)
    pc.add_argument("--trigger")
    pc.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()
    try:
        return server(args) if args.cmd == "server" else client(args)
    except (OSError, socket.timeout) as e:
        emit("FAILED", args.cmd, getattr(e, "errno", None) or type(e).__name__)
        return 1


if __name__ == "__main__":
    sys.exit(main())
