//! A request's JSON arguments read into one typed [`Command`] (mini-redis style: parse,
//! then apply), checked against the command table: a missing argument, an unknown one and
//! a value of the wrong type are answered as ejabberd answers them, and every value is
//! checked (JIDs, names, affiliations, options) before anything is done.

use std::collections::HashMap;

use jid::{BareJid, Jid};
use minidom::Element;
use mucsub_protocol::Node;
use serde_json::Value;

use super::reply::Reply;
use super::room_options;
use super::table::{ArgType, Spec};
use crate::muc::affiliation::Affiliation;
use crate::muc::NewRoom;

/// The domains the arguments are checked against.
pub struct Site<'a> {
    /// The server's domain (`host`).
    pub domain: &'a str,
    /// The MUC service (`service`).
    pub muc: &'a str,
}

/// A message's type (`send_message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Normal,
    Chat,
    Headline,
    Groupchat,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Normal => "normal",
            MessageKind::Chat => "chat",
            MessageKind::Headline => "headline",
            MessageKind::Groupchat => "groupchat",
        }
    }
}

/// One API call, its arguments checked.
#[derive(Debug)]
pub enum Command {
    Register {
        user: String,
        password: String,
    },
    /// `None`: not a valid account name (nothing to remove).
    Unregister {
        user: Option<String>,
    },
    ChangePassword {
        user: String,
        password: String,
    },
    RegisteredUsers,
    /// `device: None`: every device of the account.
    RevokeFastTokens {
        user: String,
        device: Option<String>,
    },
    CreateRoom {
        room: BareJid,
        new: NewRoom,
    },
    DestroyRoom {
        room: BareJid,
    },
    ListRooms,
    /// Lookups take `None` for a room that cannot exist (a bad name or another service),
    /// answered as a room that does not.
    GetRoomOptions {
        room: Option<BareJid>,
    },
    ChangeRoomOption {
        room: BareJid,
        field: (&'static str, String),
    },
    SetRoomAffiliation {
        room: BareJid,
        jid: BareJid,
        affiliation: Affiliation,
    },
    GetRoomAffiliations {
        room: Option<BareJid>,
    },
    GetRoomOccupants {
        room: Option<BareJid>,
    },
    /// `subscribe_room` (one user, answers the nodes) and `subscribe_room_many`.
    Subscribe {
        room: BareJid,
        users: Vec<(BareJid, String)>,
        nodes: Vec<Node>,
        many: bool,
    },
    Unsubscribe {
        room: BareJid,
        user: BareJid,
    },
    GetSubscribers {
        room: Option<BareJid>,
    },
    /// `None`: an account that cannot exist (no subscriptions).
    GetUserSubscriptions {
        user: Option<BareJid>,
    },
    SendMessage {
        kind: MessageKind,
        from: Jid,
        to: Jid,
        subject: String,
        body: String,
    },
    SendStanza {
        from: Jid,
        to: Jid,
        stanza: Element,
    },
}

/// Most accounts `subscribe_room_many` takes at once (ejabberd's default).
pub const MANY_MAX: usize = 50;

/// The arguments of one call, present and of the right type.
struct Args(HashMap<&'static str, Value>);

impl Args {
    /// Checks `body` against `spec`, in ejabberd's order: renamed arguments, then each
    /// argument in turn (missing, then of the wrong type), then unknown ones.
    fn new(spec: &Spec, body: &[u8]) -> Result<Args, Reply> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Reply::bad("Missing POST data"));
        }
        let mut given = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(Reply::bad("The arguments must be a JSON object")),
            Err(e) => return Err(Reply::bad(format!("Invalid JSON input: {e}"))),
        };
        for (old, new) in spec.renames {
            if let Some(v) = given.remove(*old) {
                given.entry(new.to_string()).or_insert(v);
            }
        }
        let mut args = HashMap::new();
        for arg in spec.args {
            let value = match given.remove(arg.name) {
                Some(v) => v,
                // ejabberd takes a missing list as empty.
                None if arg.ty != ArgType::String => Value::Array(Vec::new()),
                None => {
                    return Err(Reply::bad(format!(
                        "Request have missing argument: {}",
                        arg.name
                    )))
                }
            };
            let (ok, want) = match arg.ty {
                ArgType::String => (value.is_string(), "a string"),
                ArgType::Options => (
                    pairs(&value, "name", "value").is_some(),
                    "a list of {\"name\", \"value\"} objects",
                ),
                ArgType::Users => (
                    pairs(&value, "jid", "nick").is_some(),
                    "a list of {\"jid\", \"nick\"} objects",
                ),
            };
            if !ok {
                return Err(Reply::bad(format!(
                    "Argument '{}' must be {want}",
                    arg.name
                )));
            }
            args.insert(arg.name, value);
        }
        if !given.is_empty() {
            let names: Vec<&str> = given.keys().map(String::as_str).collect();
            return Err(Reply::bad(format!(
                "Request have unknown arguments: [{}]",
                names.join(",")
            )));
        }
        Ok(Args(args))
    }

    fn str(&self, name: &str) -> &str {
        self.0.get(name).and_then(Value::as_str).unwrap_or_default()
    }

    fn pairs(&self, name: &str, a: &str, b: &str) -> Vec<(String, String)> {
        self.0
            .get(name)
            .and_then(|v| pairs(v, a, b))
            .unwrap_or_default()
    }
}

/// `[{a: "…", b: "…"}, …]` as pairs (a missing `b` is empty, as ejabberd reads it), or
/// for `name`/`value` also an object `{"name": "value"}`.
fn pairs(v: &Value, a: &str, b: &str) -> Option<Vec<(String, String)>> {
    let text = |v: Option<&Value>| match v {
        None => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    };
    match v {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let o = item.as_object()?;
                Some((text(Some(o.get(a)?))?, text(o.get(b))?))
            })
            .collect(),
        Value::Object(map) if a == "name" => map
            .iter()
            .map(|(k, v)| Some((k.clone(), text(Some(v))?)))
            .collect(),
        _ => None,
    }
}

/// Room `name` of `service`, or why not.
fn room(site: &Site, name: &str, service: &str) -> Result<BareJid, Reply> {
    let jid = BareJid::new(&format!("{name}@{}", site.muc))
        .ok()
        .filter(|j| !name.is_empty() && j.node().is_some())
        .ok_or_else(|| Reply::bad("Invalid 'name'"))?;
    if !service.eq_ignore_ascii_case(site.muc) {
        return Err(Reply::bad("Invalid 'service'"));
    }
    Ok(jid)
}

/// A room's JID given whole (`subscribe_room`…).
fn room_jid(s: &str) -> Result<BareJid, Reply> {
    match Jid::new(s) {
        Ok(j) if j.node().is_some() => Ok(j.to_bare()),
        _ => Err(Reply::bad("Malformed room JID")),
    }
}

fn user_jid(s: &str) -> Result<BareJid, Reply> {
    Jid::new(s)
        .map(|j| j.to_bare())
        .map_err(|_| Reply::bad("Malformed user JID"))
}

/// A message's `from` or `to`, with the codec's words ejabberd answers.
fn address(s: &str, attr: &str) -> Result<Jid, Reply> {
    Jid::new(s).map_err(|_| {
        Reply::bad(format!(
            "Bad value of attribute '{attr}' in tag <message/> qualified by namespace 'jabber:client'"
        ))
    })
}

fn nodes(list: &str) -> Vec<Node> {
    Node::parse_list(list.split(',').map(str::trim))
}

impl Command {
    /// Reads the call of `spec` with JSON `body`.
    pub fn parse(
        spec: &Spec,
        body: &[u8],
        site: &Site,
        limits: crate::xmlstream::Limits,
    ) -> Result<Command, Reply> {
        let a = Args::new(spec, body)?;
        let on_host = a.str("host").eq_ignore_ascii_case(site.domain);
        let account = || crate::auth::normalize_user(a.str("user"));
        Ok(match spec.name {
            "register" => {
                let cannot = |why: &str| {
                    let m = format!(
                        "Can't register user {}@{}: {why}",
                        a.str("user"),
                        a.str("host")
                    );
                    Reply::error(500, 10001, m)
                };
                if !on_host {
                    return Err(Reply::error(500, 10001, "Unknown virtual host"));
                }
                let user = account().ok_or_else(|| cannot("Malformed username"))?;
                if a.str("password").is_empty() {
                    return Err(cannot("The password must not be empty"));
                }
                Command::Register {
                    user,
                    password: a.str("password").to_owned(),
                }
            }
            "unregister" if !on_host => return Err(Reply::bad("Unknown virtual host")),
            "unregister" => Command::Unregister { user: account() },
            "change_password" => {
                let user = account()
                    .filter(|_| on_host)
                    .ok_or_else(|| Reply::text(404, "unknown_user"))?;
                if a.str("newpass").is_empty() {
                    return Err(Reply::bad("The password must not be empty"));
                }
                Command::ChangePassword {
                    user,
                    password: a.str("newpass").to_owned(),
                }
            }
            "registered_users" if !on_host => return Err(Reply::bad("Unknown virtual host")),
            "registered_users" => Command::RegisteredUsers,
            "revoke_fast_tokens" => Command::RevokeFastTokens {
                user: account()
                    .filter(|_| on_host)
                    .ok_or_else(|| Reply::text(404, "unknown_user"))?,
                device: Some(a.str("device").to_owned()).filter(|d| !d.is_empty()),
            },
            "create_room" | "create_room_with_opts" => {
                let room = room(site, a.str("name"), a.str("service"))?;
                if !on_host {
                    return Err(Reply::bad("Invalid 'host'"));
                }
                let new = room_options::new_room(&a.pairs("options", "name", "value"))?;
                Command::CreateRoom { room, new }
            }
            "destroy_room" => Command::DestroyRoom {
                room: room(site, a.str("name"), a.str("service"))?,
            },
            "muc_online_rooms" => {
                let service = a.str("service");
                if service != "global" && !service.eq_ignore_ascii_case(site.muc) {
                    return Err(Reply::bad("Invalid 'service'"));
                }
                Command::ListRooms
            }
            "get_room_options" => Command::GetRoomOptions {
                room: room(site, a.str("name"), a.str("service")).ok(),
            },
            "change_room_option" => {
                let room = room(site, a.str("name"), a.str("service"))?;
                let field = room_options::field(a.str("option"), a.str("value"))?;
                Command::ChangeRoomOption { room, field }
            }
            "set_room_affiliation" => {
                let affiliation = Affiliation::parse(a.str("affiliation"))
                    .ok_or_else(|| Reply::bad("Invalid affiliation"))?;
                let room = room(site, a.str("name"), a.str("service"))?;
                let jid = Jid::new(a.str("jid"))
                    .map(|j| j.to_bare())
                    .map_err(|_| Reply::bad("Invalid 'jid'"))?;
                Command::SetRoomAffiliation {
                    room,
                    jid,
                    affiliation,
                }
            }
            "get_room_affiliations" => Command::GetRoomAffiliations {
                room: room(site, a.str("name"), a.str("service")).ok(),
            },
            "get_room_occupants" => Command::GetRoomOccupants {
                room: room(site, a.str("name"), a.str("service")).ok(),
            },
            "subscribe_room" => {
                if a.str("nick").is_empty() {
                    return Err(Reply::bad("Nickname must be set"));
                }
                Command::Subscribe {
                    room: room_jid(a.str("room"))?,
                    users: vec![(user_jid(a.str("user"))?, a.str("nick").to_owned())],
                    nodes: nodes(a.str("nodes")),
                    many: false,
                }
            }
            "subscribe_room_many" => {
                let given = a.pairs("users", "jid", "nick");
                if given.len() > MANY_MAX {
                    return Err(Reply::bad("Too many users in subscribe_room_many command"));
                }
                let room = room_jid(a.str("room"))?;
                let mut users = Vec::with_capacity(given.len());
                for (jid, nick) in given {
                    if nick.is_empty() {
                        return Err(Reply::bad("Nickname must be set"));
                    }
                    users.push((user_jid(&jid)?, nick));
                }
                Command::Subscribe {
                    room,
                    users,
                    nodes: nodes(a.str("nodes")),
                    many: true,
                }
            }
            "unsubscribe_room" => Command::Unsubscribe {
                room: room_jid(a.str("room"))?,
                user: user_jid(a.str("user"))?,
            },
            "get_subscribers" => Command::GetSubscribers {
                room: room(site, a.str("name"), a.str("service")).ok(),
            },
            "get_user_subscriptions" => Command::GetUserSubscriptions {
                user: account()
                    .filter(|_| on_host)
                    .and_then(|u| BareJid::new(&format!("{u}@{}", site.domain)).ok()),
            },
            "send_message" => {
                let kind = match a.str("type") {
                    "normal" => MessageKind::Normal,
                    "chat" => MessageKind::Chat,
                    "headline" => MessageKind::Headline,
                    "groupchat" => MessageKind::Groupchat,
                    _ => return Err(Reply::bad("Invalid 'type'")),
                };
                Command::SendMessage {
                    kind,
                    from: address(a.str("from"), "from")?,
                    to: address(a.str("to"), "to")?,
                    subject: a.str("subject").to_owned(),
                    body: a.str("body").to_owned(),
                }
            }
            "send_stanza" => {
                let stanza = super::stanza::parse(a.str("stanza"), limits).map_err(Reply::bad)?;
                let (from, to) = match (Jid::new(a.str("from")), Jid::new(a.str("to"))) {
                    (Ok(f), Ok(t)) => (f, t),
                    _ => return Err(Reply::bad("JID malformed")),
                };
                Command::SendStanza { from, to, stanza }
            }
            _ => return Err(Reply::unknown_command()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::table::COMMANDS;

    const SITE: Site = Site {
        domain: "localhost",
        muc: "conference.localhost",
    };
    const LIMITS: crate::xmlstream::Limits = crate::xmlstream::Limits {
        max_stanza: 65536,
        max_depth: 32,
    };

    fn parse(name: &str, body: &str) -> Result<Command, Reply> {
        let spec = crate::api::table::spec(name).expect("a command");
        Command::parse(spec, body.as_bytes(), &SITE, LIMITS)
    }

    #[test]
    fn every_commands_example_parses() {
        for spec in COMMANDS {
            let r = Command::parse(spec, spec.example.as_bytes(), &SITE, LIMITS);
            assert!(r.is_ok(), "{}: {:?}", spec.name, r.err());
        }
    }

    #[test]
    fn missing_unknown_and_mistyped_arguments_are_named() {
        let e = parse("create_room", r#"{"name":"p1"}"#).unwrap_err();
        assert_eq!(
            (e.status, e.body.as_str()),
            (400, Some("Request have missing argument: service"))
        );
        let e = parse(
            "create_room",
            r#"{"name":"p1","service":"conference.localhost","host":"localhost","extra":1}"#,
        )
        .unwrap_err();
        assert_eq!(e.body, "Request have unknown arguments: [extra]");
        let e = parse("create_room", r#"{"name":5,"service":"s","host":"h"}"#).unwrap_err();
        assert_eq!(e.body, "Argument 'name' must be a string");
        assert_eq!(parse("create_room", "{bad").unwrap_err().status, 400);
        assert_eq!(
            parse("create_room", "").unwrap_err().body,
            "Missing POST data"
        );
        assert_eq!(
            parse("create_room", "[]").unwrap_err().body,
            "The arguments must be a JSON object"
        );
    }

    #[test]
    fn values_are_checked_with_ejabberds_words() {
        let e = parse(
            "create_room",
            r#"{"name":"Bad Room","service":"conference.localhost","host":"localhost"}"#,
        );
        assert_eq!(e.unwrap_err().body, "Invalid 'name'");
        let e = parse(
            "destroy_room",
            r#"{"name":"p1","service":"nosuch.localhost"}"#,
        );
        assert_eq!(e.unwrap_err().body, "Invalid 'service'");
        let e = parse(
            "subscribe_room",
            r#"{"user":"bob@localhost","nick":"","room":"r@conference.localhost","nodes":""}"#,
        );
        assert_eq!(e.unwrap_err().body, "Nickname must be set");
        let e = parse(
            "subscribe_room",
            r#"{"user":"@@","nick":"b","room":"r@conference.localhost","nodes":""}"#,
        );
        assert_eq!(e.unwrap_err().body, "Malformed user JID");
        let e = parse(
            "register",
            r#"{"user":"bob","host":"nosuch","password":"pw"}"#,
        );
        assert_eq!(e.unwrap_err().status, 500);
        let e = parse(
            "change_password",
            r#"{"user":"bob","host":"nosuch","newpass":"x"}"#,
        );
        assert_eq!(e.unwrap_err(), Reply::text(404, "unknown_user"));
        // The old argument name of muc_online_rooms still works.
        assert!(matches!(
            parse("muc_online_rooms", r#"{"host":"conference.localhost"}"#),
            Ok(Command::ListRooms)
        ));
        // Options also come as an object.
        let c = parse(
            "create_room_with_opts",
            r#"{"name":"a","service":"conference.localhost","host":"localhost","options":{"members_only":"true"}}"#,
        );
        assert!(matches!(c, Ok(Command::CreateRoom { new, .. }) if new.form.is_some()));
        let c = parse(
            "subscribe_room",
            r#"{"user":"Bob@localhost/x","nick":"b","room":"R@conference.localhost","nodes":"urn:xmpp:mucsub:nodes:messages, bogus ,urn:xmpp:mucsub:nodes:subject"}"#,
        );
        let Ok(Command::Subscribe {
            room, users, nodes, ..
        }) = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(room.as_str(), "r@conference.localhost");
        assert_eq!(users[0].0.as_str(), "bob@localhost");
        assert_eq!(nodes, vec![Node::Messages, Node::Subject]);
    }
}
