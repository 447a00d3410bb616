#!/usr/bin/env python3
"""A real third-party client (slixmpp's XEP-0045 plugin) against our MUC service.

Usage: slixmpp_muc.py HOST PORT

alice creates a room by joining and opens it with the configuration form, bob joins, each says something, both see both messages
with the room's stanza-id, bob leaves (alice sees it), alice leaves. Prints `OK` and exits 0
on success; any failure or timeout exits non-zero with the reason.
"""
import asyncio
import logging
import sys

import slixmpp

HOST, PORT = sys.argv[1], int(sys.argv[2])
ROOM = "slix@conference.localhost"
TIMEOUT = 20


class Client(slixmpp.ClientXMPP):
    def __init__(self, user, nick):
        super().__init__(f"{user}@localhost/slix", "pw")
        self.nick = nick
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.register_plugin("xep_0359")
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.ready = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler(f"muc::{ROOM}::presence", self.on_presence)
        # Loopback test server: plain TCP with SASL PLAIN allowed.
        self["feature_mechanisms"].unencrypted_plain = True
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True

    async def on_start(self, _):
        self.send_presence()
        self.ready.set()

    def on_groupchat(self, msg):
        if msg["body"]:
            self.messages.put_nowait(msg)

    def on_presence(self, pres):
        self.presences.put_nowait(pres)


async def expect_message(c, body):
    while True:
        msg = await asyncio.wait_for(c.messages.get(), TIMEOUT)
        if msg["body"] == body:
            sid = msg["stanza_id"]
            if sid["by"] != ROOM or not sid["id"]:
                raise SystemExit(f"message without the room's stanza-id: {msg}")
            return msg


async def expect_presence(c, nick, ptype):
    while True:
        p = await asyncio.wait_for(c.presences.get(), TIMEOUT)
        if p["from"].resource == nick and p["type"] == ptype:
            return p


async def main():
    alice, bob = Client("alice", "alice"), Client("bob", "bob")
    for c in (alice, bob):
        c.connect(host=HOST, port=PORT)
    await asyncio.wait_for(asyncio.gather(alice.ready.wait(), bob.ready.wait()), TIMEOUT)

    info = await alice["xep_0030"].get_info(jid="conference.localhost", timeout=TIMEOUT)
    if "http://jabber.org/protocol/muc" not in info["disco_info"]["features"]:
        raise SystemExit("service does not advertise MUC")

    await asyncio.wait_for(alice["xep_0045"].join_muc_wait(ROOM, "alice", maxstanzas=0), TIMEOUT)
    # The room alice created by joining is locked until she opens it (XEP-0045 §10.1,
    # docs/protocol.md S22): she fetches the configuration form and submits it as it is.
    muc = alice.plugin["xep_0045"]
    form = await muc.get_room_config(ROOM, timeout=TIMEOUT)
    await muc.set_room_config(ROOM, form, timeout=TIMEOUT)
    await asyncio.wait_for(bob["xep_0045"].join_muc_wait(ROOM, "bob", maxstanzas=0), TIMEOUT)
    await expect_presence(alice, "bob", "available")

    roster = alice["xep_0045"].get_roster(ROOM)
    if set(roster) != {"alice", "bob"}:
        raise SystemExit(f"unexpected occupants: {roster}")

    alice.send_message(mto=ROOM, mbody="hello from alice", mtype="groupchat")
    await expect_message(alice, "hello from alice")
    await expect_message(bob, "hello from alice")
    bob.send_message(mto=ROOM, mbody="hello from bob", mtype="groupchat")
    await expect_message(alice, "hello from bob")
    await expect_message(bob, "hello from bob")

    bob["xep_0045"].leave_muc(ROOM, "bob")
    await expect_presence(alice, "bob", "unavailable")
    alice["xep_0045"].leave_muc(ROOM, "alice")
    await asyncio.sleep(0.2)
    for c in (alice, bob):
        c.disconnect()
    print("OK")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    except asyncio.TimeoutError:
        print("timed out", file=sys.stderr)
        sys.exit(2)
