#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send human-monitor commands to a running QEMU and print its answers.

    hmp.py SOCKET COMMAND...

SOCKET is QEMU's "-monitor unix:SOCKET,server=on,wait=off". The runner
uses it to record what a stalled or hung test VM's vCPUs were doing
(info registers) before it kills the VM.
"""
import socket
import sys
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sys.argv[1])
        for cmd in sys.argv[2:]:
            s.sendall(cmd.encode() + b"\n")
        out = b""
        end = time.time() + 5
        while time.time() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if out.count(b"(qemu)") > len(sys.argv) - 2:
                break
    except OSError as e:
        sys.exit("hmp.py: %s: %s" % (sys.argv[1], e))
    # Drop the terminal escapes of the readline monitor.
    text = out.decode(errors="replace")
    text = "".join(c for c in text if c == "\n" or c >= " ")
    sys.stdout.write(text.replace("[K", "").replace("[D", ""))


if __name__ == "__main__":
    main()
