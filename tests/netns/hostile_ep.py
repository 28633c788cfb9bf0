#!/usr/bin/python3
"""Drivers for tests/netns/test_hostile_*.sh (robustness of handshaked).

Run with /usr/bin/python3 (Debian's python3-scapy is installed for it),
inside a lab namespace (`ip netns exec`).  Every wait is bounded; progress
is reported on stdout, one line per event, flushed at once.

    conns ADDR PORT [--count N] [--interval S] [--duration S] [--hold S]
          [--io-timeout S] [--size B] [--half-close-trigger FILE --half-close-index I]
        Opens N connections to an echo server (endpoint.py server), then, in
        rounds every --interval seconds, sends --size random bytes on each
        open connection and reads them back.  Lines:
            CONNECTED <index> <local port>
            R <round> <unix time> <slowest exchange in ms>
            SHUTDOWN <index> <local port>     (half-close on trigger)
            FAIL <index> <local port> <reason> (then exit 4)
            EXCHANGED <rounds> <exchanges> <slowest ms>   (after --duration)
            DONE                                            (after --hold)
        The sockets stay open until --hold ends.

    spoof --src A --sport P --dst A --dport P [--iface IF] [--offset N]
        Watches IF for a segment the real client (src:sport -> dst:dport)
        sends, then forges, as that client, a RST and a FIN+ACK whose
        sequence numbers are --offset (default 2**30) past the client's next
        sequence number (scapy, raw IP).  Lines:
            OBSERVED seq <next seq> ack <ack>
            SENT rst <seq> fin <seq> ack <ack>

    garbage KIND --src A --dst A --dport P --dmac MAC [--iface IF] [--count N]
        Sends N hand-made malformed (or unusual) packets of one KIND at the
        link layer (so that the IP header is exactly as built), to the
        router's MAC.  KIND is one of the names in GARBAGE below.  Line:
            SENT <kind> <frames> <bytes of the first frame>

    ctl SOCKET (--data HEX [--fill N] | --idle S | --drip S --drip-bytes N)
        Talks to the control socket byte-exactly.  --data sends HEX-encoded
        bytes, then N bytes "a" (then half-closes unless --keep-open); --idle connects and sends
        nothing for S seconds; --drip sends one byte of "ping\\n"-like filler
        every S seconds, N bytes in all.  Prints:
            REPLY <ms to the answer> <answer, escaped>
"""

import argparse
import binascii
import os
import random
import socket
import struct
import sys
import time


def emit(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def die(msg, code=2):
    sys.stderr.write("hostile_ep.py: %s\n" % msg)
    sys.stderr.flush()
    os._exit(code)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def scapy_setup():
    import logging

    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    try:
        import scapy.all as sc
        from scapy.supersocket import L3RawSocket
        from scapy.layers.inet6 import L3RawSocket6
    except ImportError as e:
        die("scapy is not importable by %s (%s): install python3-scapy" % (sys.executable, e))
    sc.conf.L3socket = L3RawSocket
    sc.conf.L3socket6 = L3RawSocket6
    sc.conf.verb = 0
    return sc


# --------------------------------------------------------------------------
# conns: long-lived connections exchanging data


def recv_exact(s, n, deadline):
    got = b""
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("echo timed out")
        s.settimeout(left)
        part = s.recv(n - len(got))
        if not part:
            raise ConnectionError("EOF")
        got += part
    return got


def cmd_conns(args):
    fam = family_of(args.addr)
    socks = []
    for i in range(args.count):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(args.io_timeout)
        try:
            s.connect((args.addr, args.port))
        except OSError as e:
            emit("FAIL", i, 0, "connect_" + type(e).__name__)
            return 4
        socks.append(s)
        emit("CONNECTED", i, s.getsockname()[1])
    active = list(range(len(socks)))
    end = time.monotonic() + args.duration
    rounds = exchanges = 0
    slowest = 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        if args.half_close_trigger and args.half_close_index in active and \
                os.path.exists(args.half_close_trigger):
            i = args.half_close_index
            socks[i].shutdown(socket.SHUT_WR)
            active.remove(i)
            emit("SHUTDOWN", i, socks[i].getsockname()[1])
        worst = 0
        for i in active:
            s = socks[i]
            payload = os.urandom(args.size)
            a = time.monotonic()
            try:
                s.settimeout(args.io_timeout)
                s.sendall(payload)
                got = recv_exact(s, len(payload), a + args.io_timeout)
            except (OSError, ConnectionError) as e:
                emit("FAIL", i, s.getsockname()[1], "%s:%s" % (type(e).__name__, e))
                return 4
            if got != payload:
                emit("FAIL", i, s.getsockname()[1], "echo_mismatch")
                return 4
            ms = int((time.monotonic() - a) * 1000)
            worst = max(worst, ms)
            exchanges += 1
        rounds += 1
        slowest = max(slowest, worst)
        emit("R", rounds, "%.3f" % time.time(), worst)
        left = args.interval - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)
    emit("EXCHANGED", rounds, exchanges, slowest)
    hold_end = time.monotonic() + args.hold
    while time.monotonic() < hold_end:
        time.sleep(min(0.5, max(0.0, hold_end - time.monotonic())))
    emit("DONE")
    return 0


# --------------------------------------------------------------------------
# spoof: out-of-window RST and FIN in the client's name


def cmd_spoof(args):
    sc = scapy_setup()
    v6 = ":" in args.dst
    IPL = sc.IPv6 if v6 else sc.IP
    seen = {}

    def match(p):
        if IPL not in p or sc.TCP not in p:
            return False
        ip, tcp = p[IPL], p[sc.TCP]
        return ip.src == args.src and ip.dst == args.dst and tcp.sport == args.sport \
            and tcp.dport == args.dport and (tcp.flags & 0x10)

    def keep(p):
        tcp = p[sc.TCP]
        plen = len(bytes(tcp.payload))
        seen["seq"] = (tcp.seq + plen + (1 if tcp.flags & 0x01 else 0)) & 0xFFFFFFFF
        seen["ack"] = tcp.ack

    sniffer = sc.AsyncSniffer(iface=args.iface, lfilter=match, prn=keep, count=1, store=False)
    sniffer.start()
    deadline = time.monotonic() + args.timeout
    while "seq" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        sniffer.stop()
    except Exception:
        pass
    if "seq" not in seen:
        die("no segment from %s:%d to %s:%d seen on %s within %ss" % (
            args.src, args.sport, args.dst, args.dport, args.iface, args.timeout), 3)
    nxt, ack = seen["seq"], seen["ack"]
    emit("OBSERVED", "seq", nxt, "ack", ack)
    bad = (nxt + args.offset) & 0xFFFFFFFF
    ip = IPL(src=args.src, dst=args.dst)
    rst = ip / sc.TCP(sport=args.sport, dport=args.dport, flags="R", seq=bad, window=0)
    fin = ip / sc.TCP(sport=args.sport, dport=args.dport, flags="FA", seq=bad, ack=ack, window=502)
    for _ in range(args.repeat):
        sc.send(rst, verbose=0)
        sc.send(fin, verbose=0)
    emit("SENT", "rst", bad, "fin", bad, "ack", ack)
    return 0


# --------------------------------------------------------------------------
# garbage: malformed and unusual packets at the link layer


def tcp_bytes(sc, ip, **kw):
    """A TCP header (with a correct checksum for ip) as bytes."""
    return bytes((ip / sc.TCP(**kw))[sc.TCP])


def build_garbage(sc, kind, src, dst, dport, n):
    """Returns a list of IP packets (bytes), n of them (fragments: n originals)."""
    v6 = ":" in dst
    out = []
    # Distinct source ports: the test counts one flow per SYN, and two
    # packets drawn with the same port are one flow (it happened once in CI).
    sports = random.sample(range(40000, 60001), n)
    for i in range(n):
        sport = sports[i]
        seq = random.getrandbits(32)
        if v6:
            ip = sc.IPv6(src=src, dst=dst, hlim=64)
        else:
            ip = sc.IP(src=src, dst=dst, ttl=64, id=random.getrandbits(16))
        if kind == "trunc_tcp":
            # The IP header claims TCP; only 10 bytes of it follow.
            th = tcp_bytes(sc, ip, sport=sport, dport=dport, flags="S", seq=seq)[:10]
            pkt = (sc.IPv6(src=src, dst=dst, nh=6, hlim=64) if v6 else
                   sc.IP(src=src, dst=dst, proto=6, ttl=64)) / sc.Raw(th)
            out.append(bytes(pkt))
        elif kind in ("doff_small", "doff_big"):
            th = bytearray(tcp_bytes(sc, ip, sport=sport, dport=dport, flags="S", seq=seq))
            th[12] = (3 if kind == "doff_small" else 15) << 4
            pkt = (sc.IPv6(src=src, dst=dst, nh=6, hlim=64) if v6 else
                   sc.IP(src=src, dst=dst, proto=6, ttl=64)) / sc.Raw(bytes(th))
            out.append(bytes(pkt))
        elif kind == "bad_option":
            # An option whose length byte is 0: impossible to walk.
            th = bytearray(tcp_bytes(sc, ip, sport=sport, dport=dport, flags="S", seq=seq,
                                     options=[("NOP", None), ("NOP", None), ("NOP", None), ("NOP", None)]))
            th[20] = 2      # MSS kind ...
            th[21] = 0      # ... with length 0
            pkt = (sc.IPv6(src=src, dst=dst, nh=6, hlim=64) if v6 else
                   sc.IP(src=src, dst=dst, proto=6, ttl=64)) / sc.Raw(bytes(th))
            out.append(bytes(pkt))
        elif kind == "synfin":
            out.append(bytes(ip / sc.TCP(sport=sport, dport=dport, flags="SF", seq=seq)))
        elif kind == "noflags":
            out.append(bytes(ip / sc.TCP(sport=sport, dport=dport, flags=0, seq=seq)))
        elif kind == "ext_chain":
            if not v6:
                die("ext_chain is IPv6 only")
            p = sc.IPv6(src=src, dst=dst, hlim=64)
            for _ in range(10):
                p = p / sc.IPv6ExtHdrDestOpt()
            out.append(bytes(p / sc.TCP(sport=sport, dport=dport, flags="S", seq=seq)))
        elif kind == "ext_short":
            # Three destination-options headers: legal, within the parser's limit.
            if not v6:
                die("ext_short is IPv6 only")
            p = sc.IPv6(src=src, dst=dst, hlim=64)
            for _ in range(3):
                p = p / sc.IPv6ExtHdrDestOpt()
            out.append(bytes(p / sc.TCP(sport=sport, dport=dport, flags="S", seq=seq)))
        elif kind == "frag":
            payload = sc.Raw(os.urandom(1200))
            if v6:
                p = sc.IPv6(src=src, dst=dst, hlim=64) / sc.IPv6ExtHdrFragment(id=random.getrandbits(32)) / \
                    sc.TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=1) / payload
                frags = sc.fragment6(p, 500)
            else:
                p = ip / sc.TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=1) / payload
                frags = sc.fragment(p, fragsize=400)
            out.extend(bytes(f) for f in frags)
        elif kind == "bad_iplen":
            # IPv4 total length larger than the frame: the kernel's ip_rcv drops it.
            b = bytearray(bytes(ip / sc.TCP(sport=sport, dport=dport, flags="S", seq=seq)))
            if v6:
                struct.pack_into("!H", b, 4, len(b) + 100)
            else:
                struct.pack_into("!H", b, 2, len(b) + 100)
                struct.pack_into("!H", b, 10, 0)
                struct.pack_into("!H", b, 10, ip_checksum(bytes(b[:20])))
            out.append(bytes(b))
        else:
            die("unknown garbage kind %r" % kind)
    return out


def ip_checksum(hdr):
    if len(hdr) % 2:
        hdr += b"\0"
    s = sum(struct.unpack("!%dH" % (len(hdr) // 2), hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def cmd_garbage(args):
    sc = scapy_setup()
    pkts = build_garbage(sc, args.kind, args.src, args.dst, args.dport, args.count)
    v6 = ":" in args.dst
    etype = 0x86DD if v6 else 0x0800
    smac = open("/sys/class/net/%s/address" % args.iface).read().strip()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    dmac = binascii.unhexlify(args.dmac.replace(":", ""))
    eth = dmac + binascii.unhexlify(smac.replace(":", "")) + struct.pack("!H", etype)
    for p in pkts:
        s.send(eth + p)
        time.sleep(0.002)
    emit("SENT", args.kind, len(pkts), len(pkts[0]) if pkts else 0)
    return 0


# --------------------------------------------------------------------------
# ctl: byte-exact control socket client


def cmd_ctl(args):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    t0 = time.monotonic()
    try:
        s.connect(args.socket)
    except OSError as e:
        emit("CONNECT_FAILED", type(e).__name__, e.errno)
        return 3
    emit("CONNECTED", int((time.monotonic() - t0) * 1000))
    if args.data is not None:
        data = binascii.unhexlify(args.data) + b"a" * args.fill
        try:
            s.sendall(data)
        except OSError as e:
            emit("SEND_FAILED", e.errno)
        if not args.keep_open:
            s.shutdown(socket.SHUT_WR)
    elif args.drip > 0:
        filler = b"list" + b" " * max(0, args.drip_bytes - 5)
        for i in range(args.drip_bytes):
            try:
                s.sendall(filler[i:i + 1] if i < len(filler) else b" ")
            except OSError as e:
                emit("DRIP_STOPPED", i, e.errno)
                break
            time.sleep(args.drip)
        emit("DRIPPED", int((time.monotonic() - t0) * 1000))
    elif args.idle > 0:
        pass
    t_sent = time.monotonic()
    got = b""
    while True:
        try:
            part = s.recv(65536)
        except socket.timeout:
            emit("NO_REPLY", int((time.monotonic() - t_sent) * 1000))
            return 5
        except OSError as e:
            emit("RECV_FAILED", e.errno)
            break
        if not part:
            break
        got += part
    text = got.decode("latin-1").replace("\\", "\\\\").replace("\n", "\\n")
    emit("REPLY", int((time.monotonic() - t_sent) * 1000), text[:400])
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("conns")
    c.add_argument("addr")
    c.add_argument("port", type=int)
    c.add_argument("--count", type=int, default=3)
    c.add_argument("--interval", type=float, default=0.2)
    c.add_argument("--duration", type=float, default=30.0)
    c.add_argument("--hold", type=float, default=60.0)
    c.add_argument("--io-timeout", type=float, default=10.0)
    c.add_argument("--size", type=int, default=200)
    c.add_argument("--half-close-trigger")
    c.add_argument("--half-close-index", type=int, default=0)

    sp = sub.add_parser("spoof")
    sp.add_argument("--src", required=True)
    sp.add_argument("--sport", type=int, required=True)
    sp.add_argument("--dst", required=True)
    sp.add_argument("--dport", type=int, required=True)
    sp.add_argument("--iface", default="c0")
    sp.add_argument("--offset", type=int, default=2 ** 30)
    sp.add_argument("--repeat", type=int, default=1)
    sp.add_argument("--timeout", type=float, default=10.0)

    g = sub.add_parser("garbage")
    g.add_argument("kind")
    g.add_argument("--src", required=True)
    g.add_argument("--dst", required=True)
    g.add_argument("--dport", type=int, default=9)
    g.add_argument("--dmac", required=True)
    g.add_argument("--iface", default="c0")
    g.add_argument("--count", type=int, default=5)

    ct = sub.add_parser("ctl")
    ct.add_argument("socket")
    ct.add_argument("--data", help="hex bytes to send")
    ct.add_argument("--fill", type=int, default=0, help="then this many 'a' bytes")
    ct.add_argument("--keep-open", action="store_true", help="do not half-close after --data")
    ct.add_argument("--idle", type=float, default=0.0)
    ct.add_argument("--drip", type=float, default=0.0)
    ct.add_argument("--drip-bytes", type=int, default=10)
    ct.add_argument("--timeout", type=float, default=30.0)

    args = p.parse_args()
    if args.cmd == "conns":
        return cmd_conns(args)
    if args.cmd == "spoof":
        return cmd_spoof(args)
    if args.cmd == "garbage":
        return cmd_garbage(args)
    return cmd_ctl(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
