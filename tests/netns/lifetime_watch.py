#!/usr/bin/python3
"""When do TIME_WAIT connections leave the kernel, and when the table?

    lifetime_watch.py --ns NS --port P --ctl HANDSHAKECTL --sock SOCKET
                      [--timeout S] [--interval S]

Polls, every --interval seconds, `ss -tanH` in network namespace NS (the
one whose sockets on local port P are in TIME-WAIT) and `handshakectl list
--json` in the current namespace (the flows whose server or client port is
P), and notes for each peer port the first poll at which its TIME-WAIT
socket is gone and the first at which its flow is gone (a poll that fails
is skipped).  At the first poll
every TIME-WAIT socket must have a flow showing that side in TIME_WAIT.
Stops once neither shows any connection, or at --timeout.  Prints

    CONN PEERPORT kernel_s K table_s T      (seconds since the first poll)
    SUMMARY connections N kernel_min_s A kernel_max_s B max_diff_s D

or MISSING / TIMEOUT lines.  Exit 0 when every connection was seen leaving
both, 1 otherwise.  Every subprocess has a timeout.
"""

import argparse
import json
import subprocess
import sys
import time


def tw_peers(ns, port):
    """Peer ports of the TIME-WAIT sockets on local port `port` in `ns`."""
    res = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tanH", "state", "time-wait"],
                         capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        return None
    peers = set()
    for line in res.stdout.splitlines():
        cols = line.split()
        # With a state filter ss leaves the state column out: Recv-Q Send-Q Local Peer.
        if len(cols) < 4:
            continue
        local, peer = cols[-2], cols[-1]
        if local.rsplit(":", 1)[-1] == str(port):
            peers.add(int(peer.rsplit(":", 1)[-1]))
    return peers


def table_flows(ctl, sock, port):
    """{peer port: the state of our side} for the flows with `port` on one side."""
    res = subprocess.run([ctl, "-s", sock, "list", "--json"], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        return None
    flows = {}
    for line in res.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        f = json.loads(line)
        for ours, theirs in (("server", "client"), ("client", "server")):
            if f[ours]["port"] == port:
                flows[f[theirs]["port"]] = f[ours]["state"]
    return flows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--sock", required=True)
    ap.add_argument("--timeout", type=float, default=80.0)
    ap.add_argument("--interval", type=float, default=0.25)
    args = ap.parse_args()

    t0 = time.monotonic()
    kernel = tw_peers(args.ns, args.port) or set()
    table = table_flows(args.ctl, args.sock, args.port) or {}
    watched = sorted(kernel)
    ok = bool(watched)
    for p in watched:
        if table.get(p) != "TIME_WAIT":
            print("MISSING %d table shows %s" % (p, table.get(p, "no flow")), flush=True)
            ok = False
    gone_kernel, gone_table = {}, {}
    while time.monotonic() - t0 < args.timeout and len(gone_table) + len(gone_kernel) < 2 * len(watched):
        time.sleep(args.interval)
        now = time.monotonic() - t0
        kernel = tw_peers(args.ns, args.port)
        table = table_flows(args.ctl, args.sock, args.port)
        if kernel is None or table is None:
            continue   # a poll that did not answer tells nothing
        for p in watched:
            if p not in kernel and p not in gone_kernel:
                gone_kernel[p] = now
            if p not in table and p not in gone_table:
                gone_table[p] = now
    diffs, lifetimes = [], []
    for p in watched:
        if p not in gone_kernel or p not in gone_table:
            print("TIMEOUT %d kernel %s table %s" % (p, "gone" if p in gone_kernel else "still there",
                                                      "gone" if p in gone_table else "still there"))
            ok = False
            continue
        print("CONN %d kernel_s %.2f table_s %.2f" % (p, gone_kernel[p], gone_table[p]))
        diffs.append(abs(gone_kernel[p] - gone_table[p]))
        lifetimes.append(gone_kernel[p])
    if diffs:
        print("SUMMARY connections %d kernel_min_s %.2f kernel_max_s %.2f max_diff_s %.2f" %
              (len(diffs), min(lifetimes), max(lifetimes), max(diffs)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
