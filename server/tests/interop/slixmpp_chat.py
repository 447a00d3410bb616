#!/usr/bin/env python3
"""Interop check with a real third-party client library (slixmpp).

Logs in over TCP with STARTTLS (verifying the server's development certificate) and
SCRAM, sends a chat message to PEER's bare JID, and waits for PEER's reply. Exits 0 only
when the reply arrives; any failure or a timeout exits non-zero.

usage: slixmpp_chat.py HOST PORT JID PASSWORD PEER_BARE_JID CA_CERT_PEM
"""

import asyncio
import logging
import ssl
import sys

import slixmpp

TIMEOUT = 30


class Chat(slixmpp.ClientXMPP):
    def __init__(self, jid, password, peer, ca_cert):
        super().__init__(jid, password)
        self.peer = peer
        self.done = asyncio.get_event_loop().create_future()
        self.mechanism = None
        ctx = ssl.create_default_context(cafile=ca_cert)
        self.ssl_context = ctx
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", self.on_failed)
        self.add_event_handler("auth_success", self.on_auth)

    def on_auth(self, _event):
        self.mechanism = self.plugin["feature_mechanisms"].mech.name

    def on_failed(self, _event):
        if not self.done.done():
            self.done.set_exception(RuntimeError("authentication failed"))

    async def on_start(self, _event):
        self.send_presence()
        await self.get_roster()
        self.send_message(mto=self.peer, mbody="hello from slixmpp", mtype="chat")

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["from"].bare == self.peer:
            if not self.done.done():
                self.done.set_result(msg["body"])


async def main():
    host, port, jid, password, peer, ca_cert = sys.argv[1:7]
    xmpp = Chat(jid, password, peer, ca_cert)
    xmpp.connect(host, int(port))
    try:
        body = await asyncio.wait_for(xmpp.done, TIMEOUT)
    finally:
        xmpp.disconnect()
    print(f"mechanism={xmpp.mechanism}")
    print(f"reply={body}")
    if not xmpp.mechanism or not xmpp.mechanism.startswith("SCRAM-"):
        raise SystemExit(f"expected a SCRAM mechanism, got {xmpp.mechanism}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
