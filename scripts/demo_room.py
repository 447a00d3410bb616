#!/usr/bin/env python3
"""Creates the demo room for scripts/run.sh: logs in as each demo account over plain TCP on
loopback (SASL PLAIN is allowed there) and subscribes it to the room with MucSub, which
creates the room on the first subscribe (docs/protocol.md S5, the first subscriber becomes its owner).
Idempotent: subscribing again only refreshes the nick and nodes (docs/protocol.md S6).

usage: demo_room.py HOST:PORT ROOM_JID USER:PASSWORD[:NICK] ..."""
import base64
import re
import socket
import sys

NODES = "".join(f"<event node='urn:xmpp:mucsub:nodes:{n}'/>" for n in
                ("messages", "subject", "presence", "affiliations", "config", "subscribers"))


def read_until(sock, pattern, buf):
    while not re.search(pattern, buf):
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"connection closed while waiting for {pattern!r}: {buf[-300:]}")
        buf += chunk.decode("utf-8", "replace")
    return buf


def subscribe(addr, domain, room, user, password, nick):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        opener = (f"<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
        s.sendall(opener.encode())
        read_until(s, r"</(stream:)?features>", "")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        s.sendall(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode())
        buf = read_until(s, r"<success|<failure", "")
        if "<failure" in buf:
            raise RuntimeError(f"{user}: authentication failed")
        s.sendall(opener.encode())
        read_until(s, r"</(stream:)?features>", "")
        s.sendall(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        read_until(s, r"id=['\"]b1['\"]", "")
        s.sendall(f"<iq type='set' id='s1' to='{room}'><subscribe xmlns='urn:xmpp:mucsub:0' "
                  f"nick='{nick}'>{NODES}</subscribe></iq>".encode())
        buf = read_until(s, r"<iq[^>]*id=['\"]s1['\"][^>]*>", "")
        iq = re.search(r"<iq[^>]*id=['\"]s1['\"][^>]*>", buf).group(0)
        if "type='error'" in iq or 'type="error"' in iq:
            raise RuntimeError(f"{user}: subscribe to {room} refused: {buf[-400:]}")
        s.sendall(b"</stream:stream>")


def main():
    addr, room = sys.argv[1], sys.argv[2]
    domain = room.split("@", 1)[1].split(".", 1)[1]
    for spec in sys.argv[3:]:
        user, password, *rest = spec.split(":")
        subscribe(addr, domain, room, user, password, rest[0] if rest else user)


if __name__ == "__main__":
    main()
