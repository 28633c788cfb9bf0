#!/usr/bin/python3
"""A scripted TCP peer for the early-demux test (raw sockets, IPv4).

It opens a connection to ADDR:PORT from SPORT, waits for the server's FIN
(the server application closes at once), acknowledges it, then sends its
own FIN and, right behind it, a SYN for a new connection on the same
ports with a higher sequence number.  The server's socket enters
TIME_WAIT on that FIN, and a TIME_WAIT socket answers such a SYN with a
SYN-ACK (RFC 9293 3.10.7.4, Linux tcp_timewait_state_process).  Prints
"SYNACK" if it comes within the timeout, "LOST" if not.

With GOFILE, it prints READY before the FIN and waits for that file to
exist, then prints SENT: the caller can hold the queue's consumer (SIGSTOP)
meanwhile, so that FIN and SYN are queued together, as in a burst.

The peer's own kernel knows nothing of this connection: the caller must
drop the RSTs it would send (iptables OUTPUT in the peer's namespace).
"""

import os
import random
import select
import socket
import struct
import sys
import time

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src, dst, sport, dport, seq, ack, flags):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    return tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]


def receive(rx, src, sport, dport, want, deadline):
    """The next segment from src:sport to dport whose flags include all of want."""
    while time.monotonic() < deadline:
        r, _, _ = select.select([rx], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        pkt = rx.recv(65535)
        ihl = (pkt[0] & 0xF) * 4
        if socket.inet_ntoa(pkt[12:16]) != src:
            continue
        sp, dp, seq, ack, _, flags = struct.unpack("!HHIIBB", pkt[ihl:ihl + 14])
        if sp == sport and dp == dport and flags & want == want:
            return seq, ack, flags
    return None


def main():
    me, addr, port, sport, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    gofile = sys.argv[6] if len(sys.argv) > 6 else None
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    deadline = time.monotonic() + timeout
    isn = random.randrange(1 << 30)

    def send(seq, ack, flags):
        tx.sendto(segment(me, addr, sport, port, seq, ack, flags), (addr, 0))

    send(isn, 0, SYN)
    got = receive(rx, addr, port, sport, SYN | ACK, deadline)
    if not got:
        print("NO_SYNACK")
        return 1
    their = got[0] + 1
    send(isn + 1, their, ACK)
    got = receive(rx, addr, port, sport, FIN, deadline)
    if not got:
        print("NO_FIN")
        return 1
    their += 1
    send(isn + 1, their, ACK)
    # Give the ACK time to move the server to FIN_WAIT_2, then FIN and SYN back to back.
    time.sleep(0.05)
    if gofile:
        # The caller holds the queue's consumer so that both wait in the queue together.
        print("READY", flush=True)
        while not os.path.exists(gofile):
            if time.monotonic() > deadline:
                print("NO_GO")
                return 1
            time.sleep(0.01)
    new_isn = (isn + 100000) & 0xFFFFFFFF
    fin = segment(me, addr, sport, port, isn + 1, their, FIN | ACK)
    syn = segment(me, addr, sport, port, new_isn, 0, SYN)
    tx.sendto(fin, (addr, 0))
    tx.sendto(syn, (addr, 0))
    print("SENT", flush=True)
    while True:
        got = receive(rx, addr, port, sport, SYN | ACK, min(deadline, time.monotonic() + 1.0))
        if not got:
            print("LOST")
            return 0
        if got[1] == (new_isn + 1) & 0xFFFFFFFF:
            print("SYNACK")
            try:
                send(new_isn + 1, got[0] + 1, RST | ACK)
            except OSError:
                pass    # the caller's firewall may drop our RSTs
            return 0


if __name__ == "__main__":
    sys.exit(main())
