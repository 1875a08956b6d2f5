#!/usr/bin/env python3
"""Record the NVMe/TCP byte streams between a host and a target.

A TCP relay: listens on LISTEN_PORT, connects each accepted connection to
TARGET_PORT on the same address, forwards bytes both ways unchanged and writes
them to OUT/connN.log (N counts connections: the admin queue is conn0, I/O
queues follow) in the order and chunks they passed: records of one direction
byte (0 host to controller, 1 controller to host), a little-endian u32 length
and the bytes. Runs until killed.

Usage: pdu-capture.py ADDR LISTEN_PORT TARGET_PORT OUT

Used by tools/capture-vectors (in the VM) to capture what the in-tree C host
and C target send each other, for the PDU crate's test vectors.
"""
import os
import selectors
import socket
import struct
import sys


def main():
    addr, lport, tport, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    os.makedirs(out, exist_ok=True)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((addr, lport))
    lsock.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    n = 0
    while True:
        for key, _ in sel.select():
            if key.data is None:
                host, _ = lsock.accept()
                target = socket.create_connection((addr, tport))
                for s in (host, target):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                log = open(os.path.join(out, f"conn{n}.log"), "wb")
                n += 1
                sel.register(host, selectors.EVENT_READ, (target, log, 0))
                sel.register(target, selectors.EVENT_READ, (host, log, 1))
                continue
            src = key.fileobj
            dst, log, direction = key.data
            try:
                data = src.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                sel.unregister(src)
                try:
                    sel.unregister(dst)
                except (KeyError, ValueError):
                    pass
                src.close()
                dst.close()
                if not log.closed:
                    log.close()
                continue
            log.write(struct.pack("<BI", direction, len(data)) + data)
            log.flush()
            dst.sendall(data)


if __name__ == "__main__":
    main()
