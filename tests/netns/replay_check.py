#!/usr/bin/python3
"""replay_check: compares what `handshaked -r` makes of a lab's capture with
what the live daemon showed.

    replay_check.py trim IN.pcap OUT.pcap UNTIL
        copies the records of a pcap file (as tcpdump -w writes it) stamped
        at or before UNTIL (seconds since the epoch, as `date +%s.%N`), so
        that the capture holds what the daemon had seen when its table was
        read
    replay_check.py compare LIVE.jsonl REPLAY.jsonl
        matches flows by family and both endpoints' addresses and ports and
        compares every field but id, age_ms and idle_ms; prints each
        difference and exits 1 if there is any (or if the live table is
        empty: then nothing was compared).  One difference is allowed and
        told: two adjacent history letters of opposite sides in the other
        order (see crossed)
    replay_check.py selftest
        checks crossed on histories that must and must not pass
"""
import json
import struct
import sys

IGNORED = {"id", "age_ms", "idle_ms"}


def trim(src, dst, until):
    with open(src, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        e = "<"
    else:
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    frac = 1e9 if magic == 0xa1b23c4d else 1e6
    out, pos, kept = [data[:24]], 24, 0
    while pos + 16 <= len(data):
        sec, sub, incl, _ = struct.unpack(e + "IIII", data[pos:pos + 16])
        if sec + sub / frac > until:
            break
        out.append(data[pos:pos + 16 + incl])
        pos += 16 + incl
        kept += 1
    with open(dst, "wb") as f:
        f.write(b"".join(out))
    print(f"kept {kept} records up to {until:.6f}")


def load(path):
    flows = {}
    with open(path) as f:
        for line in f:
            obj = json.loads(line)
            if "summary" in obj:
                continue
            key = (obj["family"], obj["client"]["addr"], obj["client"]["port"], obj["server"]["addr"],
                   obj["server"]["port"])
            flows[key] = obj
    return flows


def crossed(live, replay):
    """Whether two histories differ only by two adjacent letters of opposite
    sides (upper case the client's, lower case the server's) in the other
    order.  The capture's tap (tcpdump -Q in) is at the router's ingress and
    the daemon's queue at FORWARD: a packet from each side that cross in the
    router on two CPUs can be captured in one order and queued in the other
    (CI saw live 'ThAdFaf', replay 'ThdAFaf', under TCP Fast Open, where the
    server's first data races the client's ACK of its SYN-ACK).  Then their
    letters, if both are new, swap, and nothing else differs: the window
    checks and states end the same either way.  The handshake's letters
    (S, H, T) never cross: each side's follows the other's causally."""
    if len(live) != len(replay):
        return False
    diffs = [i for i in range(len(live)) if live[i] != replay[i]]
    if len(diffs) != 2 or diffs[1] != diffs[0] + 1:
        return False
    i = diffs[0]
    return (live[i] == replay[i + 1] and live[i + 1] == replay[i]
            and live[i].isupper() != live[i + 1].isupper() and not set(live[i:i + 2].lower()) & set("sht"))


def selftest():
    cases = [("ThAdFaf", "ThdAFaf", True), ("ShADadFf", "ShDAadFf", False), ("ShADadFf", "ShAaDdFf", True),
             ("ShADadFf", "ShADadFf", False), ("ShADadFf", "ShaDAdFf", False), ("ShAd", "ShAdF", False),
             ("ShADad", "hSADad", False), ("ThAdFaf", "TAhdFaf", False), ("ShAdFf", "ShdAfF", False),
             ("ShADadFf", "ShADaFdf", True)]
    bad = [(a, b, want) for a, b, want in cases if crossed(a, b) != want]
    for a, b, want in bad:
        print(f"crossed({a!r}, {b!r}) should be {want}")
    print("replay_check selftest: " + ("FAILED" if bad else f"{len(cases)} cases pass"))
    return 1 if bad else 0


def compare(live_path, replay_path):
    live, replay = load(live_path), load(replay_path)
    problems, notes = [], []
    for key in sorted(set(live) | set(replay)):
        name = "%s %s:%s -> %s:%s" % key
        if key not in replay:
            problems.append(f"{name}: live only: {json.dumps(live[key])}")
            continue
        if key not in live:
            problems.append(f"{name}: replay only: {json.dumps(replay[key])}")
            continue
        a, b = live[key], replay[key]
        for field in sorted(set(a) | set(b)):
            if field in IGNORED:
                continue
            if isinstance(a.get(field), dict):
                for sub in sorted(set(a[field]) | set(b.get(field) or {})):
                    if a[field].get(sub) != (b.get(field) or {}).get(sub):
                        problems.append(f"{name}: {field}.{sub}: live {a[field].get(sub)!r}, "
                                        f"replay {(b.get(field) or {}).get(sub)!r}")
            elif field == "history" and crossed(a.get(field) or "", b.get(field) or ""):
                notes.append(f"{name}: history: live {a[field]!r}, replay {b[field]!r}: two packets crossed")
            elif a.get(field) != b.get(field):
                problems.append(f"{name}: {field}: live {a.get(field)!r}, replay {b.get(field)!r}")
    if not live:
        problems.append("the live table is empty: nothing to compare")
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(live)} flows agree field by field" + "".join(f"; {n}" for n in notes))
    return 1 if problems else 0


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "trim":
        trim(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 2 and sys.argv[1] == "selftest":
        return selftest()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
