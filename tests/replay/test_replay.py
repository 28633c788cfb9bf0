#!/usr/bin/python3
"""test_replay: `handshaked -r` on captures crafted by pcapgen.

Each test writes its captures into a private temporary directory, replays
them with the handshaked binary given on the command line, and checks the
report: the final table (JSON Lines, the schema of `handshakectl list
--json`), the summary, the events, or the error for a bad file.

    tests/replay/test_replay.py build/handshaked [TEST...]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen as g  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T0 = 1_700_000_000 * 10**9          # capture time of the first packet, in nanoseconds
MS = 1_000_000
FLOW_KEYS = ["id", "family", "client", "server", "local", "age_ms", "idle_ms", "history"]
ENDPOINT_KEYS = ["addr", "port", "state", "packets", "bytes"]

BINARY = None
WORK = None


class Replay:
    """What one `handshaked -r` run printed."""

    def __init__(self, args, stdin=None):
        proc = subprocess.run([BINARY, "-r"] + args, input=stdin, capture_output=True, timeout=60)
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode()
        self.stderr = proc.stderr.decode()
        self.flows, self.events, self.summary = [], [], None
        if "--json" in args:
            for line in self.stdout.splitlines():
                obj = json.loads(line)
                if "summary" in obj:
                    self.summary = obj["summary"]
                elif "event" in obj:
                    self.events.append(obj)
                else:
                    self.flows.append(obj)

    def only_flow(self):
        assert len(self.flows) == 1, f"expected one flow, got {self.flows}"
        return self.flows[0]


def path(name):
    return os.path.join(WORK, name)


def config(name, text):
    p = path(name)
    with open(p, "w") as f:
        f.write(text)
    return p


def replay(capture, *extra, stdin=None):
    r = Replay([capture, "--json"] + list(extra), stdin=stdin)
    assert r.rc == 0, f"exit {r.rc}: {r.stderr}"
    return r


def states(flow):
    return flow["client"]["state"], flow["server"]["state"]


# ---- link types and file formats ----

def conversation():
    return g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080).close_client_first()


def expect_orderly_close(r):
    f = r.only_flow()
    assert states(f) == ("TIME_WAIT", "CLOSED"), states(f)
    assert f["history"] == "ShADadFf", f["history"]
    assert (f["client"]["packets"], f["server"]["packets"]) == (6, 5)
    assert (f["client"]["bytes"], f["server"]["bytes"]) == (340, 400)
    assert f["family"] == "ipv4"
    assert list(f.keys()) == FLOW_KEYS and list(f["client"].keys()) == ENDPOINT_KEYS
    assert r.summary["tcp"] == 11


def test_link_types():
    """The same connection framed in every link type, in pcap of both byte orders and resolutions."""
    arp = g.ethernet(b"\x00" * 28, ethertype=0x0806)
    cases = {
        "ethernet": (g.LINKTYPE_ETHERNET, g.ethernet),
        "vlan": (g.LINKTYPE_ETHERNET, lambda ip: g.ethernet(ip, vlans=[(0x8100, 7)])),
        "qinq": (g.LINKTYPE_ETHERNET, lambda ip: g.ethernet(ip, vlans=[(0x88a8, 100), (0x8100, 7)])),
        "sll": (g.LINKTYPE_LINUX_SLL, g.sll),
        "sll_vlan": (g.LINKTYPE_LINUX_SLL, lambda ip: g.sll(b"\x00\x07\x08\x00" + ip, ethertype=0x8100)),
        "sll2": (g.LINKTYPE_LINUX_SLL2, g.sll2),
        "raw": (g.LINKTYPE_RAW, g.raw),
        "ipv4": (g.LINKTYPE_IPV4, g.raw),
        "null": (g.LINKTYPE_NULL, g.null_le),
        "loop": (g.LINKTYPE_LOOP, g.loop_be),
    }
    for name, (linktype, frame) in cases.items():
        for nanos, big in ((False, False), (True, True)):
            p = path(f"link_{name}_{nanos}.pcap")
            records = g.timed(conversation(), T0, frame=frame)
            if linktype == g.LINKTYPE_ETHERNET:
                records.append(g.Record(T0 + 20 * MS, arp))
            g.write_pcap(p, linktype, records, nanoseconds=nanos, big_endian=big)
            r = replay(p)
            try:
                expect_orderly_close(r)
                assert r.summary["packets"] == len(records)
                not_ip = r.summary["link"].get("not_ip", 0)
                assert not_ip == (1 if linktype == g.LINKTYPE_ETHERNET else 0), r.summary
                span = (records[-1].ts_ns - records[0].ts_ns) / 1e9
                assert abs(r.summary["last_ts"] - r.summary["first_ts"] - span) < 1e-6, r.summary
            except AssertionError as e:
                raise AssertionError(f"{name}: {e}") from e


def test_link_header_truncated():
    """Frames cut inside the link-layer header, and a tower of VLAN tags, are counted, not tracked."""
    ip = conversation()[0]
    records = [g.Record(T0, g.ethernet(ip)[:10]),
               g.Record(T0 + MS, g.ethernet(ip, vlans=[(0x8100, i) for i in range(6)]))]
    p = path("link_short.pcap")
    g.write_pcap(p, g.LINKTYPE_ETHERNET, records)
    r = replay(p)
    assert r.flows == []
    assert r.summary["link"] == {"truncated_link_header": 1, "too_many_vlan_tags": 1}, r.summary
    p = path("sll2_short.pcap")
    g.write_pcap(p, g.LINKTYPE_LINUX_SLL2, [g.Record(T0, g.sll2(ip)[:19])])
    assert replay(p).summary["link"] == {"truncated_link_header": 1}


def test_pcapng_interfaces():
    """pcapng, one direction per interface, one in microseconds and one in nanoseconds."""
    c = g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080)
    packets = c.close_client_first()
    records = []
    for i, ip in enumerate(packets):
        from_client = ip[12:16] == g.v4("10.0.1.2")
        records.append(g.Record(T0 + i * 7 * MS + 123_456, g.ethernet(ip), interface=0 if from_client else 1))
    p = path("two_interfaces.pcapng")
    g.write_pcapng(p, [(g.LINKTYPE_ETHERNET, 6), (g.LINKTYPE_ETHERNET, 9)], records)
    r = replay(p)
    expect_orderly_close(r)
    assert r.summary["first_ts"] == 1_700_000_000.000123, r.summary["first_ts"]
    assert r.only_flow()["age_ms"] == 70, r.only_flow()["age_ms"]


def test_snaplen_cut():
    """Frames captured with a short snap length: headers are enough, lengths come from the wire."""
    c = g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080)
    packets = c.handshake() + [c.c2s(g.PSH | g.ACK, 1, 1, b"z" * 1000)]
    p = path("snaplen.pcap")
    records = g.timed(packets, T0, frame=g.ethernet)
    g.write_pcap(p, g.LINKTYPE_ETHERNET, records, snaplen=54)
    f = replay(p).only_flow()
    assert f["client"]["bytes"] == 40 + 40 + 1040, f
    assert f["history"] == "ShAD", f["history"]


def test_stdin_and_text():
    """`-r -` reads standard input; the text form has the `list` header and one line per flow."""
    p = path("stdin.pcap")
    g.write_pcap(p, g.LINKTYPE_ETHERNET, g.timed(conversation(), T0, frame=g.ethernet))
    with open(p, "rb") as f:
        data = f.read()
    expect_orderly_close(replay("-", stdin=data))
    text = Replay(["-"], stdin=data)
    assert text.rc == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ID", "FAM", "CLIENT", "STATE", "SERVER", "STATE", "PKTS>", "PKTS<", "AGE(s)",
                                "IDLE(s)", "HISTORY"], lines[0]
    fields = lines[1].split()
    assert fields[2:6] == ["10.0.1.2:40000", "TIME_WAIT", "10.0.2.2:8080", "CLOSED"], fields
    assert fields[-1] == "ShADadFf"
    assert "capture: 11 packets, link type EN10MB" in text.stdout, text.stdout


def test_stdin_follows():
    """From a pipe, each packet's events come out at once, not when the next packet arrives."""
    import select
    p = path("follow.pcap")
    c = g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080)
    g.write_pcap(p, g.LINKTYPE_RAW, g.timed([c.c2s(g.SYN, 0, 0)], T0))
    with open(p, "rb") as f:
        data = f.read()
    proc = subprocess.Popen([BINARY, "-r", "-", "--events", "--json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "no event within 10 s of the first packet"
        event = json.loads(proc.stdout.readline())
        assert event["event"] == "new" and event["flow"]["client"]["port"] == 40000, event
        proc.stdin.close()
        rest = proc.stdout.read().decode().splitlines()
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        assert json.loads(rest[-1])["summary"]["packets"] == 1, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- IP: extension headers, fragments, malformed packets ----

def test_ipv6_extension_headers():
    """IPv6 with hop-by-hop, destination options and routing headers before TCP is tracked."""
    ext = [(g.HOPOPTS, b"\x01\x04\x00\x00\x00\x00"), (g.DSTOPTS, b"\x01\x04\x00\x00\x00\x00"),
           (g.ROUTING, b"\x00\x00" + b"\x00" * 4)]
    c = g.Conn("fd00:1::2", 40000, "fd00:2::2", 443, family=6, ext=ext)
    p = path("ipv6_ext.pcap")
    g.write_pcap(p, g.LINKTYPE_ETHERNET, g.timed(c.close_client_first(), T0, frame=g.ethernet))
    r = replay(p)
    f = r.only_flow()
    assert f["family"] == "ipv6" and f["client"]["addr"] == "fd00:1::2", f
    assert states(f) == ("TIME_WAIT", "CLOSED") and f["history"] == "ShADadFf", f


def test_fragments_and_not_tcp():
    """Fragments (IPv4 first and later pieces, an IPv6 fragment header) and UDP pass untracked."""
    seg = g.tcp(40000, 8080, 1, 0, g.SYN)
    packets = [
        g.ipv4("10.0.1.2", "10.0.2.2", seg, frag=0x2000),                     # more fragments, offset 0
        g.ipv4("10.0.1.2", "10.0.2.2", b"\x00" * 16, frag=0x0003),            # offset 24 bytes
        g.ipv6("fd00::1", "fd00::2", seg, ext=[(g.FRAGMENT, b"\x00\x01\x00\x00\x00\x07")]),
        g.ipv4("10.0.1.2", "10.0.2.2", b"\x00" * 8, proto=17),
    ]
    p = path("fragments.pcap")
    g.write_pcap(p, g.LINKTYPE_RAW, g.timed(packets, T0))
    r = replay(p)
    assert r.flows == []
    assert (r.summary["fragments"], r.summary["not_tcp"], r.summary["tcp"]) == (3, 1, 0), r.summary


def cut(ip, caplen):
    """A record of an IP packet captured only up to caplen bytes."""
    return g.Record(0, ip[:caplen], orig_len=len(ip))


MALFORMED = {
    "empty": b"",
    "bad_version": b"\x50" + b"\x00" * 39,
    "truncated_ip": g.ipv4("10.0.1.2", "10.0.2.2", b"")[:12],
    "bad_ihl": g.ipv4("10.0.1.2", "10.0.2.2", g.tcp(1, 2, 0, 0, g.SYN), ihl=4),
    "bad_ip_length": g.ipv4("10.0.1.2", "10.0.2.2", g.tcp(1, 2, 0, 0, g.SYN), total=400),
    "bad_ext_header": g.ipv6("fd00::1", "fd00::2", b"", next_header=g.DSTOPTS, plen=4) + b"\x06\x05\x00\x00",
    "ext_chain_too_long": g.ipv6("fd00::1", "fd00::2", g.tcp(1, 2, 0, 0, g.SYN),
                                 ext=[(g.DSTOPTS, b"\x01\x04\x00\x00\x00\x00")] * 9),
    "truncated_tcp": cut(g.ipv4("10.0.1.2", "10.0.2.2", g.tcp(1, 2, 0, 0, g.SYN)), 30),
    "bad_data_offset": g.ipv4("10.0.1.2", "10.0.2.2", g.tcp(1, 2, 0, 0, g.SYN, doff=4)),
    "bad_tcp_option": g.ipv4("10.0.1.2", "10.0.2.2", g.tcp(1, 2, 0, 0, g.SYN, options=b"\x02\x09\x05\xb4")),
}


def test_malformed():
    """One packet of every malformed kind, each counted under its reason; strict counts them as drops."""
    p = path("malformed.pcap")
    records = []
    for i, packet in enumerate(MALFORMED.values()):
        record = packet if isinstance(packet, g.Record) else g.Record(0, packet)
        record.ts_ns = T0 + i * MS
        records.append(record)
    g.write_pcap(p, g.LINKTYPE_RAW, records)
    r = replay(p)
    assert r.flows == []
    assert r.summary["malformed"] == {name: 1 for name in MALFORMED}, r.summary["malformed"]
    assert r.summary["would_drop"]["strict_malformed"] == 0
    strict = config("strict.yaml", "table: {strict: true}\n")
    r = replay(p, "-c", strict)
    assert r.summary["would_drop"]["strict_malformed"] == len(MALFORMED), r.summary


# ---- TCP: every invalid reason ----

def invalid_captures():
    """Connections that each end with packets of known invalid reasons (see test_scenarios.c)."""
    far = 1 << 30
    conns = []

    def conn(port):
        c = g.Conn("10.0.1.2", port, "10.0.2.2", 8080)
        conns.append(c)
        return c

    c = conn(40001)   # window checks I to IV
    windows = c.handshake() + [c.c2s(g.PSH | g.ACK, 1 + 200000, 1, b"a" * 100),
                               c.c2s(g.PSH | g.ACK, 1 - 200000, 1, b"a" * 100),
                               c.c2s(g.ACK, 1, 1 + 100000), c.c2s(g.ACK, 1, 1 - 200000)]
    c = conn(40002)   # RSTs out of the window
    rsts = c.handshake() + [c.c2s(g.RST, 1 + far, 0), c.s2c(g.RST | g.ACK, 1 - far, 1)]
    c = conn(40003)   # SYN-ACK acknowledging the wrong number
    synack = [c.c2s(g.SYN, 0, 0), c.s2c(g.SYN | g.ACK, 0, 5)]
    c = conn(40004)   # a new SYN on an established connection
    syn = c.handshake() + [c.c2s(g.SYN, 100000, 0)]
    c = conn(40005)   # the client's ACK before the server answered
    ack = [c.c2s(g.SYN, 0, 0), c.c2s(g.ACK, 1, 1)]
    c = conn(40006)   # impossible flags
    flags = [c.c2s(g.SYN | g.FIN, 0, 0)]
    c = conn(40007)   # mid-stream with pickup off
    midstream = [c.c2s(g.ACK, 5, 5)]
    expected = {"seq_above_window": 1, "seq_below_window": 1, "ack_above_sent": 1, "ack_below_window": 1,
                "rst_out_of_window": 2,
                "synack_bad_ack": 1, "unexpected_syn": 1, "unexpected_ack": 1, "bad_flags": 1, "no_flow": 1}
    return windows + rsts + synack + syn + ack + flags + midstream, expected


def test_invalid_reasons():
    """Every reason the state machine gives, counted once per packet; strict counts them as drops."""
    packets, expected = invalid_captures()
    p = path("invalid.pcap")
    g.write_pcap(p, g.LINKTYPE_RAW, g.timed(packets, T0))
    no_pickup = config("no_pickup.yaml", "table: {pickup: false}\n")
    r = replay(p, "-c", no_pickup)
    assert r.summary["invalid"] == expected, r.summary["invalid"]
    assert r.summary["would_drop"]["strict_invalid"] == 0
    by_port = {f["client"]["port"]: f for f in r.flows}
    assert sorted(by_port) == [40001, 40002, 40003, 40004, 40005], sorted(by_port)
    for port in (40001, 40002, 40003, 40004, 40005):
        assert "i" in by_port[port]["history"].lower(), by_port[port]
    assert states(by_port[40001]) == ("ESTABLISHED", "ESTABLISHED")
    assert states(by_port[40003]) == ("SYN_SENT", "LISTEN")
    strict = config("strict_no_pickup.yaml", "table: {strict: true, pickup: false}\n")
    r = replay(p, "-c", strict)
    assert r.summary["would_drop"]["strict_invalid"] == sum(expected.values()), r.summary


# ---- time: the capture's clock ----

def test_expiry_in_capture_time():
    """A SYN left alone expires 70 s (syn_sent) of capture time later, at the 100 ms step after its deadline."""
    lone = g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080)
    later = g.Conn("10.0.1.3", 40000, "10.0.2.2", 8080)
    records = [g.Record(T0 + 5 * MS, g.raw(lone.c2s(g.SYN, 0, 0))),
               g.Record(T0 + 200 * 1000 * MS, g.raw(later.c2s(g.SYN, 0, 0)))]
    p = path("expiry.pcap")
    g.write_pcap(p, g.LINKTYPE_RAW, records)
    r = replay(p, "--events")
    assert r.summary["flows"]["expired"] == 1, r.summary
    expire = [e for e in r.events if e["event"] == "expire"]
    assert len(expire) == 1 and expire[0]["flow"]["client"]["addr"] == "10.0.1.2", r.events
    t = expire[0]["ts"] - T0 / 1e9
    assert 70.005 <= t <= 70.2, t
    assert r.only_flow()["client"]["addr"] == "10.0.1.3"


def test_clock_backwards():
    """A record stamped before the one before it is tracked as if on time, and counted."""
    c = g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080)
    packets = c.handshake()
    records = [g.Record(T0 + 10 * MS, packets[0]), g.Record(T0 + 5 * MS, packets[1]),
               g.Record(T0 + 20 * MS, packets[2])]
    p = path("backwards.pcap")
    g.write_pcap(p, g.LINKTYPE_RAW, records)
    r = replay(p)
    assert states(r.only_flow()) == ("ESTABLISHED", "ESTABLISHED")
    assert r.summary["clock"]["backwards"] == 1, r.summary


# ---- policies over a capture ----

def test_close_wait_reaper():
    """The reaper's reset is reported at the capture time it would have fired, and nothing is reset."""
    c = g.Conn("10.0.1.2", 40000, "10.0.2.2", 8080)
    packets = c.handshake() + [c.c2s(g.FIN | g.ACK, 1, 1), c.s2c(g.ACK, 1, 2)]
    records = g.timed(packets, T0)
    other = g.Conn("10.0.1.9", 40000, "10.0.2.2", 9999)
    records.append(g.Record(T0 + 45_000 * MS, other.c2s(g.SYN, 0, 0)))   # the capture goes on past the reaper's 30 s
    p = path("close_wait.pcap")
    g.write_pcap(p, g.LINKTYPE_RAW, records)
    r = replay(p, "--events", "-c", os.path.join(REPO, "conf/examples/close-wait-reaper.yaml"))
    policy = [e for e in r.events if e["event"] == "policy"]
    assert len(policy) == 1, policy
    assert policy[0]["reason"] == "backend-close-wait: reset (dry run)", policy[0]
    # Flows keep time in 10 ms ticks (the FIN's ack at 4 ms counts from 0) and expiry steps every 100 ms.
    t = policy[0]["ts"] - T0 / 1e9
    assert 29.99 <= t <= 30.2, t
    acted = {p["name"]: p["would_act"] for p in r.summary["policies"]}
    assert acted == {"backend-close-wait": 1, "close-wait": 0}, acted
    # The report lists it too, with the flow as it was then.
    [action] = r.summary["actions"]
    assert action["policy"] == "backend-close-wait" and action["action"] == "reset", action
    assert action["ts"] == policy[0]["ts"] and action["flow"]["client"]["port"] == 40000, action
    text = Replay([p, "-c", os.path.join(REPO, "conf/examples/close-wait-reaper.yaml")])
    line = [x for x in text.stdout.splitlines() if "backend-close-wait: reset flow" in x]
    assert len(line) == 1 and "10.0.1.2:40000 FIN_WAIT_2 -> 10.0.2.2:8080 CLOSE_WAIT" in line[0], text.stdout
    waiting = [f for f in r.flows if f["client"]["port"] == 40000 and f["server"]["port"] == 8080]
    assert states(waiting[0]) == ("FIN_WAIT_2", "CLOSE_WAIT"), waiting


def test_syn_flood_guard():
    """A SYN flood past syn-flood-guard's limit: verify's decisions (refused, and a known source verified)
    and each half-open flow the timeout policy would have reset, at the capture time it would have."""
    records = []
    known = g.Conn("10.0.1.4", 50000, "10.0.2.2", 443)
    records += g.timed(known.handshake(), T0 - 1000 * MS)
    t = T0
    for i in range(300):
        c = g.Conn(f"10.9.{i // 250}.{i % 250 + 1}", 1024 + i, "10.0.2.2", 443)
        records.append(g.Record(t, c.c2s(g.SYN, 0, 0)))
        records.append(g.Record(t + 100_000, c.s2c(g.SYN | g.ACK, 0, 1)))
        t += MS
    real = g.Conn("10.0.1.2", 40000, "10.0.2.2", 443)
    records.append(g.Record(t, real.c2s(g.SYN, 0, 0)))
    records.append(g.Record(t + 10 * MS, g.Conn("10.0.1.4", 50001, "10.0.2.2", 443).c2s(g.SYN, 0, 0)))
    records.append(g.Record(t + 1000 * MS, real.c2s(g.SYN, 0, 0)))
    records.append(g.Record(t + 5000 * MS, g.Conn("10.0.1.3", 1, "10.0.2.3", 80).c2s(g.SYN, 0, 0)))
    p = path("syn_flood.pcap")
    g.write_pcap(p, g.LINKTYPE_RAW, records)
    r = replay(p, "--events", "-c", os.path.join(REPO, "conf/examples/syn-flood-guard.yaml"))
    policies = {p["name"]: p for p in r.summary["policies"]}
    # SYNs 257 to 300 and the real client's first find 256 half-open flows: each a first SYN
    # from a source never seen, which verify would refuse.  Its retransmission is no new
    # connection (in dry run its first SYN was not refused, so its flow is still there).  The
    # source that completed a handshake before would pass at once.
    flood = policies["syn-flood"]
    assert (flood["would_act"], flood["refused"], flood["verified"]) == (300 - 256 + 1, 45, 1), flood
    assert policies["half-open-timeout"]["would_act"] == 300, policies
    resets = [a for a in r.summary["actions"] if a["policy"] == "half-open-timeout"]
    assert len(resets) == 300 and len(r.summary["actions"]) == 300, len(r.summary["actions"])
    assert all(a["action"] == "reset" and a["flow"]["server"]["state"] == "SYN_RCVD" for a in resets)
    first = min(a["ts"] for a in resets) - T0 / 1e9
    assert 3.0 <= first <= 3.2, first
    events = [e for e in r.events if e["event"] == "policy"]
    assert len(events) == 300, len(events)
    assert r.summary["flows"]["live"] == 304, r.summary["flows"]
    text = Replay([p, "-c", os.path.join(REPO, "conf/examples/syn-flood-guard.yaml")])
    assert "policy syn-flood (verify): would have acted 45 times (SYNs refused), 1 SYNs verified" in text.stdout, \
        text.stdout
    assert "... and 250 more" in text.stdout, text.stdout


# ---- bad files ----

def expect_error(capture, *needles, packets=None):
    r = Replay([capture, "--json"])
    assert r.rc == 1, f"exit {r.rc}, stderr {r.stderr!r}"
    for needle in needles:
        assert needle in r.stderr, f"{needle!r} not in {r.stderr!r}"
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    if packets is None:
        assert r.stdout == "", r.stdout
    else:
        assert r.summary["packets"] == packets, r.summary
    return r


def test_truncated_file():
    """A file cut inside its last record: an error saying after how many packets, and the report of those."""
    p = path("truncated.pcap")
    g.write_pcap(p, g.LINKTYPE_ETHERNET, g.timed(conversation(), T0, frame=g.ethernet), cut_last=20)
    r = expect_error(p, "truncated.pcap: truncated record after 10 packets", packets=10)
    assert len(r.flows) == 1
    p = path("truncated_header.pcap")
    g.write_pcap(p, g.LINKTYPE_ETHERNET, g.timed(conversation()[:3], T0, frame=g.ethernet))
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) - (54 + 10))   # into the third record's header
    expect_error(p, "truncated record after 2 packets", packets=2)
    p = path("truncated.pcapng")
    g.write_pcapng(p, [(g.LINKTYPE_ETHERNET, 6)], g.timed(conversation(), T0, frame=g.ethernet))
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) - 8)
    expect_error(p, "truncated record after 10 packets", packets=10)


def test_not_a_capture():
    """Text, an empty file, and a missing one: each a one-line error naming the file."""
    p = config("notes.txt", "these are not packets\n" * 10)
    expect_error(p, "notes.txt: not a pcap or pcapng capture")
    p = config("empty.pcap", "")
    expect_error(p, "empty.pcap: not a pcap or pcapng capture")
    expect_error(path("missing.pcap"), "missing.pcap", "No such file")


def test_unsupported_link_type():
    """An 802.11 capture is refused with its link type named, pcap and pcapng alike."""
    p = path("wifi.pcap")
    g.write_pcap(p, g.LINKTYPE_IEEE802_11, [g.Record(T0, b"\x00" * 40)])
    expect_error(p, "wifi.pcap: unsupported link type IEEE802_11 (802.11, 105)")
    p = path("wifi.pcapng")
    g.write_pcapng(p, [(g.LINKTYPE_IEEE802_11, 6)], [g.Record(T0, b"\x00" * 40)])
    expect_error(p, "unsupported link type IEEE802_11")


def test_usage():
    """--json and --events only go with -r; -r and -t do not go together."""
    for args in (["--json"], ["--events"], ["-t", "-r", "x.pcap"]):
        proc = subprocess.run([BINARY] + args, capture_output=True, timeout=10)
        assert proc.returncode == 2, (args, proc.returncode)
        assert b"usage:" in proc.stderr


def main():
    global BINARY, WORK
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    BINARY = os.path.abspath(sys.argv[1])
    wanted = sys.argv[2:]
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    tests = [(n, f) for n, f in tests if not wanted or n in wanted]
    WORK = tempfile.mkdtemp(prefix="hs-replay-")
    failed = 0
    try:
        for name, fn in tests:
            try:
                fn()
                print(f"ok   {name}")
            except Exception:
                failed += 1
                print(f"FAIL {name}")
                traceback.print_exc()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"{len(tests) - failed}/{len(tests)} replay tests passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
