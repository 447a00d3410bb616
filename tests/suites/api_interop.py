#!/usr/bin/env python3
"""The same HTTP API calls against the reference ejabberd 23.01 and against mucsub-server,
answers compared (tests/suites/api-interop.sh runs it).

Usage: api_interop.py EJABBERD_API_URL OUR_API_URL OUR_TOKEN

Each case is one call, sent to both servers in the same order (so both build the same
rooms, subscriptions and accounts), then compared:

- "same": status and body equal. Lists are compared as sets (neither server promises an
  order), objects key by key; a `keep` filter drops what other users of the shared ejabberd
  left there (their rooms and accounts), keeping only this run's names.
- "keys": objects compared on the keys both have (get_room_options: ejabberd has options
  this server does not, docs/api.md says which), except the keys in `DEFAULTS_DIFFER`
  (defaults docs/api.md lists as differences on purpose).
- "differs": a difference docs/api.md lists on purpose; each side must give the answer the
  table there says it gives (status, and body when given).

Prints one TAP line per case and `# pass N` / `# fail N` at the end (the counting of
scripts/test.sh); exit status 1 on any failure.
"""
import json
import random
import sys
import urllib.error
import urllib.request

EJ, OURS, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
RUN = "api%06d" % random.randrange(10**6)
MUC = "conference.localhost"
HOST = "localhost"


def room(n):
    return f"{RUN}-{n}"


def jid(n):
    return f"{room(n)}@{MUC}"


def call(base, command, body, token=None):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if isinstance(data, str):
        data = data.encode()
    req = urllib.request.Request(f"{base}/{command}", data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def canon(v):
    """Lists as sorted lists of their canonical members (sets), recursively."""
    if isinstance(v, list):
        return sorted((canon(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
    if isinstance(v, dict):
        return {k: canon(x) for k, x in v.items()}
    return v


def mine(v):
    """Keeps, in a list of strings or objects, the entries that name this run."""
    if isinstance(v, list):
        return [x for x in v if RUN in json.dumps(x) or x in ("alice", "bob", "carol", "dave")]
    return v


def ours_only_users(v):
    if isinstance(v, list):
        return [x for x in v if x in ("alice", "bob", "carol", "dave") or x.startswith(RUN)]
    return v


CASES = []


# Room option defaults that differ on purpose (docs/api.md): a new room here is not moderated
# (docs/protocol.md S22; Converse.js told users of ejabberd's default rooms they "need to
# request permission to write").
DEFAULTS_DIFFER = {"moderated": ("true", "false")}


def case(label, command, body, mode="same", keep=None, ej=None, us=None):
    CASES.append((label, command, body, mode, keep, ej, us))


def nodes(*names):
    return ",".join(f"urn:xmpp:mucsub:nodes:{n}" for n in names)


R = {"name": room("a"), "service": MUC}

# The API's own answers.
case("unknown command", f"no_such_command_{RUN}", {})
case("missing argument", "create_room", {"name": room("a")})
case("unknown argument", "create_room", {**R, "host": HOST, "extra": 1})
case("bad JSON", "create_room", "{bad json", "differs", ej=(400, "400 Bad Request"), us=(400, None))
case("wrong type", "create_room", {"name": 5, "service": MUC, "host": HOST}, "differs",
     ej=(400, "Arg 5 is not in format binary"), us=(400, "Argument 'name' must be a string"))

# Accounts.
user = f"{RUN}u"
case("register", "register", {"user": user, "host": HOST, "password": "pw"})
case("register again", "register", {"user": user, "host": HOST, "password": "pw"})
case("register unknown host", "register", {"user": user, "host": "nosuch", "password": "pw"})
case("change_password", "change_password", {"user": user, "host": HOST, "newpass": "pw2"})
case("change_password unknown user", "change_password",
     {"user": f"{RUN}nobody", "host": HOST, "newpass": "x"})
case("registered_users", "registered_users", {"host": HOST}, keep=ours_only_users)
case("registered_users unknown host", "registered_users", {"host": "nosuch"})
case("unregister", "unregister", {"user": user, "host": HOST})
case("unregister unknown host", "unregister", {"user": user, "host": "nosuch"})

# Rooms.
case("create_room", "create_room", {**R, "host": HOST})
case("create_room again", "create_room", {**R, "host": HOST})
case("create_room bad name", "create_room", {"name": "Bad Room", "service": MUC, "host": HOST})
case("create_room bad service", "create_room", {"name": room("x"), "service": "nosuch.localhost", "host": HOST})
case("create_room unknown host", "create_room", {"name": room("x"), "service": MUC, "host": "nosuch"},
     "differs", ej=(500, "internal_error"), us=(400, "Invalid 'host'"))
case("muc_online_rooms", "muc_online_rooms", {"service": MUC}, keep=mine)
case("muc_online_rooms (host)", "muc_online_rooms", {"host": MUC}, keep=mine)
case("muc_online_rooms unknown service", "muc_online_rooms", {"service": "nosuch"}, "differs",
     ej=(500, "internal_error"), us=(400, "Invalid 'service'"))
case("get_room_options default", "get_room_options", R, "keys")
case("get_room_options no room", "get_room_options", {"name": room("none"), "service": MUC})
opts = [{"name": k, "value": v} for k, v in [
    ("members_only", "true"), ("title", "T4"), ("password_protected", "true"),
    ("password", "sec"), ("public", "false"), ("mam", "false"), ("moderated", "false"),
    ("allow_subscription", "true"), ("persistent", "true")]]
case("create_room_with_opts", "create_room_with_opts",
     {"name": room("b"), "service": MUC, "host": HOST, "options": opts})
case("get_room_options set", "get_room_options", {"name": room("b"), "service": MUC}, "keys")
case("create_room_with_opts options as an object", "create_room_with_opts",
     {"name": room("c"), "service": MUC, "host": HOST, "options": {"members_only": "true"}})
case("create_room_with_opts subscribers (23.04)", "create_room_with_opts",
     {"name": room("d"), "service": MUC, "host": HOST,
      "options": [{"name": "subscribers", "value": "dave@localhost:Dave:messages"}]},
     "differs", ej=(400, "Unable to start room"), us=(200, 0))
case("create_room_with_opts unknown option", "create_room_with_opts",
     {"name": room("e"), "service": MUC, "host": HOST, "options": [{"name": "bogus", "value": "x"}]},
     "differs", ej=(200, 0), us=(400, "Unknown option 'bogus'"))
case("change_room_option", "change_room_option", {**R, "option": "title", "value": "Hello"})
case("change_room_option no room", "change_room_option",
     {"name": room("none"), "service": MUC, "option": "title", "value": "x"})
case("change_room_option unknown option", "change_room_option", {**R, "option": "bogus", "value": "1"},
     "differs", ej=(500, "internal_error"), us=(400, "Unknown option 'bogus'"))
case("get_room_options changed", "get_room_options", R, "keys")
# On room c, which nothing else looks at: ejabberd keeps the odd value.
case("change_room_option bad value", "change_room_option",
     {"name": room("c"), "service": MUC, "option": "members_only", "value": "maybe"},
     "differs", ej=(200, 0), us=(400, "Invalid value 'maybe' for option 'members_only'"))

# Affiliations.
def aff(j, a, n="a"):
    return {"name": room(n), "service": MUC, "jid": j, "affiliation": a}


case("set_room_affiliation member", "set_room_affiliation", aff("carol@localhost", "member"))
case("set_room_affiliation full JID", "set_room_affiliation", aff("dave@localhost/res", "admin"))
case("set_room_affiliation outcast", "set_room_affiliation", aff("eve@localhost", "outcast"))
case("set_room_affiliation invalid", "set_room_affiliation", aff("carol@localhost", "king"))
case("set_room_affiliation no room", "set_room_affiliation", aff("carol@localhost", "member", "none"))
case("set_room_affiliation malformed JID", "set_room_affiliation", aff("@@", "member"), "differs",
     ej=(500, "internal_error"), us=(400, "Invalid 'jid'"))
case("get_room_affiliations", "get_room_affiliations", R)
case("get_room_affiliations no room", "get_room_affiliations", {"name": room("none"), "service": MUC})
case("get_room_occupants", "get_room_occupants", R)
case("get_room_occupants no room", "get_room_occupants", {"name": room("none"), "service": MUC})

# Subscriptions.
def sub(u, nick, ns, n="a"):
    return {"user": u, "nick": nick, "room": jid(n), "nodes": ns}


case("subscribe_room", "subscribe_room", sub("bob@localhost", "bob", nodes("messages", "affiliations")))
case("subscribe_room again, unknown node left out", "subscribe_room",
     sub("bob@localhost", "bob", nodes("messages") + ",bogus"))
case("subscribe_room no nodes", "subscribe_room", sub("carol@localhost", "carol", ""))
case("subscribe_room nick in use", "subscribe_room", sub("dave@localhost", "bob", nodes("messages")),
     "differs", ej=(400, "That nickname is already in use by another occupant"),
     us=(400, "That nickname is reserved by a subscriber"))
case("subscribe_room empty nick", "subscribe_room", sub("dave@localhost", "", nodes("messages")))
case("subscribe_room banned", "subscribe_room", sub("eve@localhost", "eve", nodes("messages")))
case("subscribe_room no room", "subscribe_room", sub("dave@localhost", "dave", nodes("messages"), "none"))
case("subscribe_room malformed room", "subscribe_room",
     {"user": "dave@localhost", "nick": "dave", "room": MUC, "nodes": ""})
case("subscribe_room malformed user", "subscribe_room", sub("@@", "dave", nodes("messages")))
case("subscribe_room_many", "subscribe_room_many",
     {"users": [{"jid": "dave@localhost", "nick": "dave"}, {"jid": "alice@localhost", "nick": "alice"}],
      "room": jid("a"), "nodes": nodes("messages")})
case("subscribe_room_many no room", "subscribe_room_many",
     {"users": [{"jid": "dave@localhost", "nick": "dave"}], "room": jid("none"), "nodes": nodes("messages")})
case("get_subscribers", "get_subscribers", R)
case("get_subscribers no room", "get_subscribers", {"name": room("none"), "service": MUC})
case("get_user_subscriptions", "get_user_subscriptions", {"user": "bob", "host": HOST}, keep=mine)
case("unsubscribe_room", "unsubscribe_room", {"user": "dave@localhost", "room": jid("a")})
case("unsubscribe_room not subscribed", "unsubscribe_room", {"user": "dave@localhost", "room": jid("a")})
case("unsubscribe_room no room", "unsubscribe_room", {"user": "dave@localhost", "room": jid("none")})
case("unsubscribe_room malformed user", "unsubscribe_room", {"user": "@@", "room": jid("a")})
case("get_subscribers after", "get_subscribers", R)

# Messages.
def msg(t, frm, to, body, subject=""):
    return {"type": t, "from": frm, "to": to, "subject": subject, "body": body}


case("send_message chat", "send_message", msg("chat", "alice@localhost", "bob@localhost", "hi"))
case("send_message headline", "send_message", msg("headline", "alice@localhost", "bob@localhost", "hi", "S"))
case("send_message groupchat from a subscriber", "send_message",
     msg("groupchat", "bob@localhost", jid("a"), "hello from the API"))
case("send_message groupchat from a stranger", "send_message",
     msg("groupchat", "zed@localhost", jid("a"), "x"), "differs",
     ej=(200, 0), us=(400, "Only occupants are allowed to send messages to the conference"))
case("send_message groupchat no room", "send_message",
     msg("groupchat", "bob@localhost", jid("none"), "x"), "differs",
     ej=(200, 0), us=(400, "Conference room does not exist"))
case("send_message malformed from", "send_message", msg("chat", "@@", "bob@localhost", "x"))
case("send_message missing subject", "send_message",
     {"type": "chat", "from": "alice@localhost", "to": "bob@localhost", "body": "x"})
case("send_stanza", "send_stanza",
     {"from": "alice@localhost", "to": "bob@localhost", "stanza": "<message type='chat'><body>raw</body></message>"})
case("send_stanza malformed XML", "send_stanza",
     {"from": "alice@localhost", "to": "bob@localhost", "stanza": "<message"}, "differs",
     ej=(400, "unclosed token"), us=(400, None))
case("send_stanza malformed JID", "send_stanza", {"from": "@@", "to": "bob@localhost", "stanza": "<message/>"})

# Turning subscriptions off.
case("change_room_option allow_subscription", "change_room_option",
     {**R, "option": "allow_subscription", "value": "false"})
case("subscribe_room not allowed", "subscribe_room", sub("dave@localhost", "dave", nodes("messages")))
case("get_subscribers none left", "get_subscribers", R)

# Destruction.
for n in "abcde":
    case(f"destroy_room {n}", "destroy_room", {"name": room(n), "service": MUC},
         **({"mode": "differs", "ej": (400, "Room doesn't exists"), "us": (200, 0)} if n == "d" else
            {"mode": "differs", "ej": (200, 0), "us": (400, "Room doesn't exists")} if n == "e" else {}))
case("destroy_room again", "destroy_room", R)
case("destroy_room bad service", "destroy_room", {"name": room("a"), "service": "nosuch.localhost"})
case("muc_online_rooms after", "muc_online_rooms", {"service": MUC}, keep=mine)


def main():
    passed = failed = 0
    for n, (label, command, body, mode, keep, ej_want, us_want) in enumerate(CASES, 1):
        ej = call(EJ, command, body)
        us = call(OURS, command, body, TOKEN)
        if keep:
            ej, us = (ej[0], keep(ej[1])), (us[0], keep(us[1]))
        problem = None
        if mode == "same":
            if (ej[0], canon(ej[1])) != (us[0], canon(us[1])):
                problem = f"ejabberd {ej!r} / ours {us!r}"
        elif mode == "keys":
            both = set(ej[1]) & set(us[1]) if isinstance(ej[1], dict) and isinstance(us[1], dict) else set()
            diff = {k: (ej[1][k], us[1][k]) for k in both
                    if ej[1][k] != us[1][k] and DEFAULTS_DIFFER.get(k) != (ej[1][k], us[1][k])}
            if ej[0] != us[0] or not both or diff:
                problem = f"status {ej[0]}/{us[0]}, options that differ (ejabberd, ours): {diff}"
        else:
            for who, got, want in (("ejabberd", ej, ej_want), ("ours", us, us_want)):
                if got[0] != want[0] or (want[1] is not None and got[1] != want[1]):
                    problem = f"{who}: want {want!r}, got {got!r} (docs/api.md)"
        if problem:
            failed += 1
            print(f"not ok {n} - {label} ({command})\n#   {problem}")
        else:
            passed += 1
            print(f"ok {n} - {label} ({command}){' [documented difference]' if mode == 'differs' else ''}")
    print(f"1..{len(CASES)}")
    print(f"# pass {passed}")
    print(f"# fail {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
