#!/usr/bin/python3
# fake_notify.py: plays systemd's side of the notification protocol for
# tests.  It binds a datagram socket at PATH (or an abstract name given as
# @NAME), turns on SO_PASSCRED as systemd does, and prints every datagram
# it receives as one line: "PID MESSAGE", with the message's newlines shown
# as '|'.  It runs until killed; output is flushed line by line so a test
# can wait for a message with grep.
import os
import socket
import struct
import sys

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind("\0" + path[1:] if path.startswith("@") else path)
print("listening", flush=True)
while True:
    data, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
    print(pid, data.decode("utf-8", "replace").replace("\n", "|"), flush=True)
