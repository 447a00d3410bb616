#!/usr/bin/env python3
"""Records what the reference ejabberd 23.01 does with the issue-22 features in a MucSub
room (docs/protocol.md, "Issue 22 against ejabberd 23.01"): occupant-ids, corrections,
retraction (v0 and v1, with and without a fallback body), moderation (XEP-0425 v0.2 and
v0.3), reactions, replies, origin-ids, what an offline subscriber gets, what the room's
MAM keeps, and PEP (MDS, bookmarks). Raw stanzas with ../shared/tools/xprobe.py.

Run under the lock with ejabberd up:
  flock /tmp/ejabberd-ref.lock python3 tests/suites/ejabberd_issue22_probe.py [port]
The room (probe22-<time>) is destroyed at the end."""
import asyncio, json, os, sys, time, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "../../../shared/tools"))
from xprobe import Client, pretty  # noqa: E402

H, P = "127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 15222
MUC = "conference.localhost"
ROOM_NAME = f"probe22-{int(time.time() * 1000)}"
R = f"{ROOM_NAME}@{MUC}"
SID = "{urn:xmpp:sid:0}stanza-id"
ALL = "".join(f"<event node='urn:xmpp:mucsub:nodes:{n}'/>"
              for n in ["messages", "presence", "affiliations", "subject", "config", "subscribers"])


async def show(c, label, t=0.8):
    els = await c.drain(t)
    for el in els:
        print(f"[{label}] {pretty(el)}")
    return els


def room_sid(els, msg_id):
    """The room's stanza-id of the echo of our message `msg_id`."""
    for el in els:
        if el.tag.endswith("message") and el.get("id") == msg_id:
            for s in el.iter(SID):
                if s.get("by") == R:
                    return s.get("id")
    raise SystemExit(f"no echo of {msg_id}")


def msg(mid, inner, to=R):
    return f"<message to='{to}' type='groupchat' id='{mid}'>{inner}<origin-id xmlns='urn:xmpp:sid:0' id='{mid}'/></message>"


async def main():
    a = await Client(H, P, "localhost", "alice", "pw", "a1").connect(); a.send("<presence/>")
    b = await Client(H, P, "localhost", "bob", "pw", "b1").connect(); b.send("<presence/>")
    c = await Client(H, P, "localhost", "carol", "pw", "c1").connect(); c.send("<presence/>")
    d = await Client(H, P, "localhost", "dave", "pw", "d1").connect(); d.send("<presence/>")
    for x in (a, b, c, d):
        await x.drain(0.3)
    print(f"== alice creates {R} (joined); carol joins; bob and dave subscribe (not joined)")
    a.send(f"<presence to='{R}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await a.drain(0.8)
    c.send(f"<presence to='{R}/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await show(c, "carol")
    b.send(f"<iq to='{R}' type='set' id='s1'><subscribe xmlns='urn:xmpp:mucsub:0' nick='bob'>{ALL}</subscribe></iq>")
    d.send(f"<iq to='{R}' type='set' id='s2'><subscribe xmlns='urn:xmpp:mucsub:0' nick='dave'>{ALL}</subscribe></iq>")
    await b.drain(0.8); await d.drain(0.5); await a.drain(0.3); await c.drain(0.3)
    print("== dave goes offline (socket closed)")
    d.close()
    await asyncio.sleep(0.5)

    print("== room disco#info")
    b.send(f"<iq to='{R}' type='get' id='di'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    await show(b, "bob")

    print("== alice posts m1 with a forged occupant-id")
    a.send(msg("m1", "<body>hello</body><occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/>"))
    s1 = room_sid(await show(a, "alice"), "m1")
    await show(c, "carol"); await show(b, "bob")

    print("== alice corrects m1 (XEP-0308)")
    a.send(msg("m2", "<body>hello!</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>"))
    await show(a, "alice"); await show(c, "carol"); await show(b, "bob")

    print("== carol 'corrects' alice's m1")
    c.send(msg("m3", "<body>hacked</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>"))
    await show(c, "carol"); await show(a, "alice"); await show(b, "bob")

    print("== bob (subscriber, not joined) reacts to m1 (XEP-0444, no body)")
    b.send(msg("m4", f"<reactions xmlns='urn:xmpp:reactions:0' id='{s1}'><reaction>👍</reaction></reactions>"))
    await show(b, "bob"); await show(a, "alice"); await show(c, "carol")

    print("== alice reacts to m1 with a store hint")
    a.send(msg("m5", f"<reactions xmlns='urn:xmpp:reactions:0' id='{s1}'><reaction>🎉</reaction></reactions><store xmlns='urn:xmpp:hints'/>"))
    await show(a, "alice"); await show(b, "bob")

    print("== carol replies to m1 (XEP-0461)")
    c.send(msg("m6", f"<body>re: hello</body><reply xmlns='urn:xmpp:reply:0' to='{R}/alice' id='{s1}'/>"))
    await show(c, "carol"); await show(b, "bob")

    print("== carol posts spam m7; alice posts m9 and m10")
    c.send(msg("m7", "<body>spam</body>"))
    s7 = room_sid(await show(c, "carol"), "m7")
    a.send(msg("m9", "<body>second</body>"))
    s9 = room_sid(await a.drain(0.8), "m9")
    a.send(msg("m10", "<body>third</body>"))
    s10 = room_sid(await a.drain(0.8), "m10")
    await b.drain(0.5); await c.drain(0.3)

    print("== alice retracts m1 with XEP-0424 v1, no body")
    a.send(msg("m8", f"<retract xmlns='urn:xmpp:message-retract:1' id='{s1}'/>"))
    await show(a, "alice"); await show(b, "bob")

    print("== alice retracts m9 with XEP-0424 v0 (apply-to) and a fallback body")
    a.send(msg("m11", f"<apply-to xmlns='urn:xmpp:fasten:0' id='{s9}'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to>"
               "<fallback xmlns='urn:xmpp:fallback:0'/><body>/me retracted a previous message, but it's unsupported by your client.</body>"))
    await show(a, "alice"); await show(b, "bob")

    print("== alice retracts m10 with XEP-0424 v1 and a fallback body")
    a.send(msg("m12", f"<retract xmlns='urn:xmpp:message-retract:1' id='{s10}'/>"
               "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>/me retracted a previous message</body>"))
    await show(a, "alice"); await show(b, "bob")

    print("== bob 'retracts' carol's m7 (v1 + fallback body)")
    b.send(msg("m13", f"<retract xmlns='urn:xmpp:message-retract:1' id='{s7}'/>"
               "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>/me retracted a previous message</body>"))
    await show(b, "bob"); await show(c, "carol")

    print("== carol (participant) moderates m7, XEP-0425 v0.2")
    v0 = (f"<apply-to xmlns='urn:xmpp:fasten:0' id='{s7}'><moderate xmlns='urn:xmpp:message-moderate:0'>"
          "<retract xmlns='urn:xmpp:message-retract:0'/><reason>off topic</reason></moderate></apply-to>")
    c.send(f"<iq to='{R}' type='set' id='mod0c'>{v0}</iq>")
    await show(c, "carol")
    print("== alice (owner) moderates m7, XEP-0425 v0.2")
    a.send(f"<iq to='{R}' type='set' id='mod0'>{v0}</iq>")
    await show(a, "alice"); await show(c, "carol"); await show(b, "bob")

    print("== carol posts spam2 m14; alice moderates it with XEP-0425 v0.3 (message-moderate:1)")
    c.send(msg("m14", "<body>spam2</body>"))
    s14 = room_sid(await c.drain(0.8), "m14")
    await a.drain(0.3); await b.drain(0.3)
    a.send(f"<iq to='{R}' type='set' id='mod1'><moderate xmlns='urn:xmpp:message-moderate:1' id='{s14}'>"
           "<retract xmlns='urn:xmpp:message-retract:1'/><reason>off topic</reason></moderate></iq>")
    await show(a, "alice"); await show(c, "carol"); await show(b, "bob")

    print("== dave comes back: what offline storage delivers")
    d = await Client(H, P, "localhost", "dave", "pw", "d1").connect(); d.send("<presence/>")
    await show(d, "dave", 1.5)

    print("== the room's archive (bob queries it)")
    b.send(f"<iq to='{R}' type='set' id='mam'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>")
    await show(b, "bob", 1.5)

    print("== PEP: account disco#info, MDS and bookmarks publishes")
    a.send("<iq to='alice@localhost' type='get' id='pd'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    await show(a, "alice")
    opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
            "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='pubsub#persist_items'><value>true</value></field>"
            "<field var='pubsub#max_items'><value>max</value></field>"
            "<field var='pubsub#send_last_published_item'><value>never</value></field>"
            "<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>")
    a.send(f"<iq type='set' id='mds'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:mds:displayed:0'>"
           f"<item id='{R}'><displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='{R}' id='{s14}'/>"
           f"</displayed></item></publish>{opts}</pubsub></iq>")
    await show(a, "alice")
    a.send(f"<iq type='set' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>"
           f"<item id='{R}'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true' name='probe'><nick>alice</nick></conference>"
           f"</item></publish>{opts}</pubsub></iq>")
    await show(a, "alice")
    a.send("<iq type='get' id='mdsget'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:mds:displayed:0'/></pubsub></iq>")
    await show(a, "alice")

    for x in (a, b, c, d):
        x.close()
    req = urllib.request.Request(f"http://{H}:15280/api/destroy_room",
                                 data=json.dumps({"name": ROOM_NAME, "service": MUC}).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    print(f"== {R} destroyed")

asyncio.run(main())
