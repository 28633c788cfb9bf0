#!/usr/bin/python3
"""Reads `handshakectl list --json` output (JSON Lines) on stdin and answers
one question about it, for the netns tests.

    flowq.py state  --sport P [--cport C] [--family ipv4|ipv6] --side client|server
        prints that side's "state" of the matching flow (highest id wins),
        or NOFLOW (exit 1) when no flow matches
    flowq.py show   --sport P [--cport C] [--family F]
        prints the matching flows' JSON lines (for failure messages)
    flowq.py count  --sport P [--family F]
        prints how many flows have that server port
    flowq.py check
        checks every line against the documented shape; prints problems,
        exit 1 if any

Lines that are not JSON objects are an error (exit 2): the format is one
object per line.
"""

import argparse
import json
import sys

ENDPOINT_KEYS = {"addr": str, "port": int, "state": str, "packets": int, "bytes": int}
FLOW_KEYS = {"id": int, "family": str, "client": dict, "server": dict,
             "age_ms": int, "idle_ms": int, "history": str}
STATES = {"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
          "FIN_WAIT_2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"}


def read_flows():
    flows = []
    for n, line in enumerate(sys.stdin, 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            sys.stderr.write("flowq: line %d is not JSON (%s): %.200s\n" % (n, e, line))
            sys.exit(2)
        if not isinstance(obj, dict):
            sys.stderr.write("flowq: line %d is not a JSON object: %.200s\n" % (n, line))
            sys.exit(2)
        flows.append(obj)
    return flows


def port_of(flow, side):
    ep = flow.get(side)
    return ep.get("port") if isinstance(ep, dict) else None


def matching(flows, args):
    out = []
    for f in flows:
        if port_of(f, "server") != args.sport:
            continue
        if args.cport is not None and port_of(f, "client") != args.cport:
            continue
        if args.family and f.get("family") != args.family:
            continue
        out.append(f)
    out.sort(key=lambda f: f.get("id", 0) if isinstance(f.get("id"), int) else 0)
    return out


def check(flows):
    problems = []
    for i, f in enumerate(flows, 1):
        for k, t in FLOW_KEYS.items():
            if k not in f:
                problems.append("flow %d: missing key %r" % (i, k))
            elif not isinstance(f[k], t) or (t is int and isinstance(f[k], bool)):
                problems.append("flow %d: %r is %s, want %s" % (i, k, type(f[k]).__name__, t.__name__))
        if f.get("family") not in ("ipv4", "ipv6"):
            problems.append("flow %d: family %r is not ipv4/ipv6" % (i, f.get("family")))
        for side in ("client", "server"):
            ep = f.get(side)
            if not isinstance(ep, dict):
                continue
            for k, t in ENDPOINT_KEYS.items():
                if k not in ep:
                    problems.append("flow %d: %s: missing key %r" % (i, side, k))
                elif not isinstance(ep[k], t) or (t is int and isinstance(ep[k], bool)):
                    problems.append("flow %d: %s.%s is %s, want %s"
                                    % (i, side, k, type(ep[k]).__name__, t.__name__))
            if ep.get("state") not in STATES:
                problems.append("flow %d: %s.state %r is not an RFC 793 name" % (i, side, ep.get("state")))
    return problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["state", "show", "count", "check"])
    p.add_argument("--sport", type=int)
    p.add_argument("--cport", type=int)
    p.add_argument("--family", choices=["ipv4", "ipv6"])
    p.add_argument("--side", choices=["client", "server"])
    args = p.parse_args()
    flows = read_flows()
    if args.what == "check":
        problems = check(flows)
        for pr in problems:
            print(pr)
        return 1 if problems else 0
    if args.sport is None:
        p.error("--sport is required")
    found = matching(flows, args)
    if args.what == "count":
        print(len(found))
        return 0
    if args.what == "show":
        for f in found:
            print(json.dumps(f, sort_keys=True))
        return 0
    if not args.side:
        p.error("state needs --side")
    if not found:
        print("NOFLOW")
        return 1
    ep = found[-1].get(args.side)
    print(ep.get("state", "NOSTATE") if isinstance(ep, dict) else "NOSTATE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
