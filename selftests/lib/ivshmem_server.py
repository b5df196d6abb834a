#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Minimal ivshmem-doorbell server for the test harness (host side).

Debian ships no ivshmem-server. This one speaks the protocol of QEMU's
docs/specs/ivshmem-spec.rst so that a test group can give its VM an
"-device ivshmem-doorbell": every message is a little-endian int64,
optionally with one file descriptor (SCM_RIGHTS). To a new peer: the
protocol version (0), its id, -1 with the shared memory fd; then, for every
peer including itself, one message per vector carrying that peer's id and
an eventfd. Existing peers learn the new peer's eventfds too.

Usage: ivshmem_server.py SOCKET SHM_BYTES VECTORS
Runs until killed. The product's own server is "hvkitctl pvtimer serve".
"""
import os
import socket
import struct
import sys


def send(sock, value, fd=None):
    data = struct.pack('<q', value)
    if fd is None:
        sock.sendmsg([data])
    else:
        socket.send_fds(sock, [data], [fd])


def main():
    path, size, nvec = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    shm = os.memfd_create('hvkit-ivshmem')
    os.ftruncate(shm, size)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    peers = {}
    next_id = 0
    while True:
        conn, _ = srv.accept()
        pid = next_id
        next_id += 1
        vecs = [os.eventfd(0) for _ in range(nvec)]
        send(conn, 0)
        send(conn, pid)
        send(conn, -1, shm)
        for other, (osock, ovecs) in list(peers.items()):
            try:
                for v in vecs:
                    send(osock, pid, v)
                for v in ovecs:
                    send(conn, other, v)
            except OSError:
                del peers[other]
        for v in vecs:
            send(conn, pid, v)
        peers[pid] = (conn, vecs)


if __name__ == '__main__':
    main()
