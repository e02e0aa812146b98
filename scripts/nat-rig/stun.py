#!/usr/bin/env python3
"""A minimal STUN binding responder for the NAT rig (RFC 5389 answers, RFC 3489 CHANGE-REQUEST).

miniupnpd refuses to forward ports when its external address is in a reserved range (as the
rig's 203.0.113.0/24 is) unless a STUN test shows it sits behind an unrestricted 1:1 NAT. Its
test sends four binding requests from four sockets: without CHANGE-REQUEST, with "change port",
with "change IP", and with both, and wants every answer, each naming its own source address.
So this responder listens on two IPs and two ports and answers each request from the socket the
CHANGE-REQUEST flags select.

    stun.py PRIMARY_IP OTHER_IP [PORT [OTHER_PORT]]

Prints "stun: ready ..." on stdout once all four sockets are bound, then one line per answer.
"""

import select
import socket
import struct
import sys

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
ATTR_MAPPED_ADDRESS = 0x0001
ATTR_CHANGE_REQUEST = 0x0003
ATTR_SOURCE_ADDRESS = 0x0004
ATTR_CHANGED_ADDRESS = 0x0005
ATTR_XOR_MAPPED_ADDRESS = 0x0020
CHANGE_IP = 0x4
CHANGE_PORT = 0x2


def address_attribute(kind, ip, port, xor=False):
    raw_ip = struct.unpack("!I", socket.inet_aton(ip))[0]
    if xor:
        port ^= MAGIC_COOKIE >> 16
        raw_ip ^= MAGIC_COOKIE
    value = struct.pack("!BBHI", 0, 1, port, raw_ip)
    return struct.pack("!HH", kind, len(value)) + value


def change_flags(body):
    """The CHANGE-REQUEST flags of a request's attributes, 0 when there are none."""
    offset = 0
    while offset + 4 <= len(body):
        kind, length = struct.unpack_from("!HH", body, offset)
        value = body[offset + 4 : offset + 4 + length]
        if kind == ATTR_CHANGE_REQUEST and len(value) == 4:
            return struct.unpack("!I", value)[0]
        offset += 4 + ((length + 3) & ~3)
    return 0


def main():
    primary, other = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 3478
    other_port = int(sys.argv[4]) if len(sys.argv) > 4 else port + 1
    sockets = {}
    for ip in (primary, other):
        for p in (port, other_port):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ip, p))
            sockets[(ip, p)] = sock
    print(f"stun: ready on {primary}:{port} and {other}:{other_port}", flush=True)
    by_fd = {sock.fileno(): key for key, sock in sockets.items()}
    while True:
        readable, _, _ = select.select(list(sockets.values()), [], [])
        for sock in readable:
            here_ip, here_port = by_fd[sock.fileno()]
            data, (client_ip, client_port) = sock.recvfrom(2048)
            if len(data) < 20:
                continue
            kind, length, cookie = struct.unpack_from("!HHI", data)
            transaction = data[8:20]
            if kind != BINDING_REQUEST or 20 + length > len(data):
                continue
            flags = change_flags(data[20 : 20 + length])
            reply_ip = here_ip
            reply_port = here_port
            if flags & CHANGE_IP:
                reply_ip = other if here_ip == primary else primary
            if flags & CHANGE_PORT:
                reply_port = other_port if here_port == port else port
            changed_ip = other if here_ip == primary else primary
            changed_port = other_port if here_port == port else port
            attributes = address_attribute(ATTR_MAPPED_ADDRESS, client_ip, client_port)
            if cookie == MAGIC_COOKIE:
                attributes += address_attribute(
                    ATTR_XOR_MAPPED_ADDRESS, client_ip, client_port, xor=True
                )
            attributes += address_attribute(ATTR_SOURCE_ADDRESS, reply_ip, reply_port)
            attributes += address_attribute(ATTR_CHANGED_ADDRESS, changed_ip, changed_port)
            header = struct.pack("!HHI", BINDING_SUCCESS, len(attributes), cookie)
            sockets[(reply_ip, reply_port)].sendto(
                header + transaction + attributes, (client_ip, client_port)
            )
            print(
                f"stun: {client_ip}:{client_port} flags={flags:#x} "
                f"answered from {reply_ip}:{reply_port}",
                flush=True,
            )


if __name__ == "__main__":
    main()
