"""pcapgen: writes crafted capture files for the replay tests.

Everything is built byte by byte here, so a test controls every field,
including the broken ones: pcap (micro- or nanosecond, either byte order)
and pcapng (several interfaces, each with its own timestamp resolution),
the link-layer framings handshaked reads (Ethernet with VLAN tags, Linux
SLL and SLL2, raw IP, BSD and OpenBSD loopback), IPv4 and IPv6 with
extension headers and fragments, and TCP with options.  Checksums are left
zero: handshaked does not read them.
"""
import struct

# Link types as they are written in capture files (LINKTYPE_*).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11 = 105
LINKTYPE_IPV4 = 228
LINKTYPE_LINUX_SLL2 = 276

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# ---- addresses ----

def v4(text):
    return bytes(int(x) for x in text.split("."))


def v6(text):
    import ipaddress
    return ipaddress.IPv6Address(text).packed


# ---- TCP, IP ----

def tcp(sport, dport, seq, ack, flags, payload=b"", window=65535, options=b"", doff=None):
    options += b"\x00" * (-len(options) % 4)
    words = doff if doff is not None else 5 + len(options) // 4
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff, words << 4,
                       flags, window, 0, 0)
    return head + options + payload


def ipv4(src, dst, payload, proto=6, ident=1, frag=0, total=None, ihl=5, version=4):
    total = 20 + len(payload) if total is None else total
    head = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total, ident, frag, 64, proto, 0,
                       v4(src), v4(dst))
    return head + payload


def ipv6(src, dst, payload, next_header=6, ext=(), plen=None):
    """ext: (header type, body) pairs walked in order before the payload."""
    chain = b""
    types = [t for t, _ in ext] + [next_header]
    for i, (_, body) in enumerate(ext):
        body = body + b"\x00" * (-(len(body) + 2) % 8)
        chain += struct.pack("!BB", types[i + 1], (len(body) + 2) // 8 - 1) + body
    first = types[0]
    plen = len(chain) + len(payload) if plen is None else plen
    head = struct.pack("!IHBB16s16s", 6 << 28, plen, first, 64, v6(src), v6(dst))
    return head + chain + payload


HOPOPTS, ROUTING, FRAGMENT, DSTOPTS = 0, 43, 44, 60


# ---- link layers ----

ETH_SRC, ETH_DST = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"


def ip_ethertype(ip):
    return 0x86dd if ip and ip[0] >> 4 == 6 else 0x0800


def ethernet(ip, vlans=(), ethertype=None):
    """vlans: (TPID, VLAN id) pairs, outermost first."""
    frame = ETH_DST + ETH_SRC
    for tpid, vid in vlans:
        frame += struct.pack("!HH", tpid, vid)
    return frame + struct.pack("!H", ethertype if ethertype is not None else ip_ethertype(ip)) + ip


def sll(ip, ethertype=None):
    return struct.pack("!HHH8sH", 0, 1, 6, ETH_SRC + b"\x00\x00",
                       ethertype if ethertype is not None else ip_ethertype(ip)) + ip


def sll2(ip, ethertype=None):
    return struct.pack("!HHIHBB8s", ethertype if ethertype is not None else ip_ethertype(ip), 0, 3, 1, 0, 6,
                       ETH_SRC + b"\x00\x00") + ip


def null_le(ip):
    """BSD loopback as a little-endian host writes it: AF_INET 2, AF_INET6 30 (macOS)."""
    return struct.pack("<I", 30 if ip[0] >> 4 == 6 else 2) + ip


def loop_be(ip):
    """OpenBSD loopback: the family in network order (AF_INET6 24)."""
    return struct.pack("!I", 24 if ip[0] >> 4 == 6 else 2) + ip


def raw(ip):
    return ip


FRAMINGS = {
    LINKTYPE_ETHERNET: ethernet,
    LINKTYPE_LINUX_SLL: sll,
    LINKTYPE_LINUX_SLL2: sll2,
    LINKTYPE_RAW: raw,
    LINKTYPE_IPV4: raw,
    LINKTYPE_NULL: null_le,
    LINKTYPE_LOOP: loop_be,
}


# ---- files ----

class Record:
    """One captured frame: time in seconds (float or int nanoseconds), bytes, original length."""

    def __init__(self, ts_ns, data, orig_len=None, interface=0):
        self.ts_ns = ts_ns
        self.data = data
        self.orig_len = len(data) if orig_len is None else orig_len
        self.interface = interface


def write_pcap(path, linktype, records, nanoseconds=False, big_endian=False, snaplen=262144, cut_last=0):
    """cut_last: drop this many bytes from the end of the file (a capture cut short)."""
    e = ">" if big_endian else "<"
    magic = 0xa1b23c4d if nanoseconds else 0xa1b2c3d4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for r in records:
        sec, frac = divmod(r.ts_ns, 1_000_000_000)
        frac = frac if nanoseconds else frac // 1000
        data = r.data[:snaplen]
        out += struct.pack(e + "IIII", sec, frac, len(data), r.orig_len) + data
    if cut_last:
        out = out[:-cut_last]
    with open(path, "wb") as f:
        f.write(out)


def _block(btype, body):
    body += b"\x00" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def write_pcapng(path, interfaces, records):
    """interfaces: (linktype, tsresol exponent of ten) pairs; records carry their interface index."""
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype, tsresol in interfaces:
        opts = struct.pack("<HHB", 9, 1, tsresol) + b"\x00" * 3 + struct.pack("<HH", 0, 0)
        out += _block(1, struct.pack("<HHI", linktype, 0, 262144) + opts)
    for r in records:
        _, tsresol = interfaces[r.interface]
        ts = r.ts_ns // 10 ** (9 - tsresol)
        out += _block(6, struct.pack("<IIIII", r.interface, ts >> 32, ts & 0xffffffff, len(r.data), r.orig_len)
                      + r.data)
    with open(path, "wb") as f:
        f.write(out)


# ---- conversations ----

class Conn:
    """A TCP connection between a client and a server, with sequence numbers relative to each ISN."""

    def __init__(self, client, cport, server, sport, family=4, cisn=1000, sisn=50000, ext=()):
        self.client, self.cport, self.server, self.sport = client, cport, server, sport
        self.family, self.cisn, self.sisn, self.ext = family, cisn, sisn, ext

    def c2s(self, flags, seq, ack, payload=b"", **kw):
        """A packet from the client: seq relative to its ISN, ack to the server's."""
        ackn = self.sisn + ack if flags & ACK else 0
        return self._ip(self.client, self.server, tcp(self.cport, self.sport, self.cisn + seq, ackn, flags,
                                                      payload, **kw))

    def s2c(self, flags, seq, ack, payload=b"", **kw):
        ackn = self.cisn + ack if flags & ACK else 0
        return self._ip(self.server, self.client, tcp(self.sport, self.cport, self.sisn + seq, ackn, flags,
                                                      payload, **kw))

    def _ip(self, src, dst, segment):
        if self.family == 6:
            return ipv6(src, dst, segment, ext=self.ext)
        return ipv4(src, dst, segment)

    def handshake(self):
        return [self.c2s(SYN, 0, 0), self.s2c(SYN | ACK, 0, 1), self.c2s(ACK, 1, 1)]

    def close_client_first(self):
        """Handshake, data each way, client FIN, server FIN: client TIME_WAIT, server CLOSED."""
        return self.handshake() + [
            self.c2s(PSH | ACK, 1, 1, b"x" * 100),
            self.s2c(ACK, 1, 101),
            self.s2c(PSH | ACK, 1, 101, b"y" * 200),
            self.c2s(ACK, 101, 201),
            self.c2s(FIN | ACK, 101, 201),
            self.s2c(ACK, 201, 102),
            self.s2c(FIN | ACK, 201, 102),
            self.c2s(ACK, 102, 202),
        ]


def timed(packets, start_ns, step_ns=1_000_000, frame=raw, interface=0):
    """Records for IP packets, step_ns apart from start_ns, each framed by frame."""
    return [Record(start_ns + i * step_ns, frame(p), interface=interface) for i, p in enumerate(packets)]
