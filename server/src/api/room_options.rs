//! ejabberd's room option names (`change_room_option`, `create_room_with_opts`,
//! `get_room_options`) and what each is in this server's room configuration: the field of
//! the owner's `muc#roomconfig` form. An option is applied by submitting that form to the
//! room (`RoomRequest::Configure`), so the API changes a room exactly as its owner would,
//! with the same checks and the same notifications.

use jid::{BareJid, Jid};
use minidom::Element;
use mucsub_protocol::forms::{self, DataForm, DataFormType};
use mucsub_protocol::Node;

use super::reply::Reply;
use crate::muc::affiliation::Affiliation;
use crate::muc::config_form::RoomConfig;
use crate::muc::NewRoom;
use crate::ns;

/// How an option's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Bool,
    /// A boolean the form holds the other way round.
    NotBool,
    Number,
}

/// One option: its ejabberd name, the form field it sets, how its value is written, and
/// how it is read back from a configuration.
struct RoomOption {
    name: &'static str,
    field: &'static str,
    kind: Kind,
    get: fn(&RoomConfig) -> String,
}

fn b(v: bool) -> String {
    v.to_string()
}

/// The options this server has, in `get_room_options` order.
const OPTIONS: &[RoomOption] = &[
    RoomOption {
        name: "title",
        field: "muc#roomconfig_roomname",
        kind: Kind::Text,
        get: |c| c.name.clone(),
    },
    RoomOption {
        name: "description",
        field: "muc#roomconfig_roomdesc",
        kind: Kind::Text,
        get: |c| c.description.clone(),
    },
    RoomOption {
        name: "allow_change_subj",
        field: "muc#roomconfig_changesubject",
        kind: Kind::Bool,
        get: |c| b(c.change_subject),
    },
    RoomOption {
        name: "allow_private_messages",
        field: "allow_private_messages",
        kind: Kind::Bool,
        get: |c| b(c.allow_private_messages),
    },
    RoomOption {
        name: "public",
        field: "muc#roomconfig_publicroom",
        kind: Kind::Bool,
        get: |c| b(c.public),
    },
    RoomOption {
        name: "public_list",
        field: "public_list",
        kind: Kind::Bool,
        get: |c| b(c.public_list),
    },
    RoomOption {
        name: "persistent",
        field: "muc#roomconfig_persistentroom",
        kind: Kind::Bool,
        get: |c| b(c.persistent),
    },
    RoomOption {
        name: "moderated",
        field: "muc#roomconfig_moderatedroom",
        kind: Kind::Bool,
        get: |c| b(c.moderated),
    },
    RoomOption {
        name: "members_by_default",
        field: "members_by_default",
        kind: Kind::Bool,
        get: |c| b(c.members_by_default),
    },
    RoomOption {
        name: "members_only",
        field: "muc#roomconfig_membersonly",
        kind: Kind::Bool,
        get: |c| b(c.members_only),
    },
    RoomOption {
        name: "allow_user_invites",
        field: "muc#roomconfig_allowinvites",
        kind: Kind::Bool,
        get: |c| b(c.allow_invites),
    },
    RoomOption {
        name: "allow_subscription",
        field: "allow_subscription",
        kind: Kind::Bool,
        get: |c| b(c.allow_subscription),
    },
    RoomOption {
        name: "password_protected",
        field: "muc#roomconfig_passwordprotectedroom",
        kind: Kind::Bool,
        get: |c| b(c.password_protected),
    },
    RoomOption {
        name: "password",
        field: "muc#roomconfig_roomsecret",
        kind: Kind::Text,
        get: |c| c.password.clone(),
    },
    RoomOption {
        name: "anonymous",
        field: "muc#roomconfig_whois",
        kind: Kind::NotBool,
        get: |c| b(!c.whois_anyone),
    },
    RoomOption {
        name: "max_users",
        field: "muc#roomconfig_maxusers",
        kind: Kind::Number,
        get: |c| c.max_users.to_string(),
    },
    RoomOption {
        name: "mam",
        field: "mam",
        kind: Kind::Bool,
        get: |c| b(c.mam),
    },
    RoomOption {
        name: "lang",
        field: "muc#roomconfig_lang",
        kind: Kind::Text,
        get: |c| c.lang.clone(),
    },
];

/// ejabberd options this server has no equivalent for: refused by name, so a caller
/// learns the option had no effect instead of assuming it had.
const UNSUPPORTED: &[&str] = &[
    "allow_query_users",
    "allow_private_messages_from_visitors",
    "allow_visitor_status",
    "allow_visitor_nickchange",
    "allow_voice_requests",
    "captcha_protected",
    "captcha_whitelist",
    "enable_hats",
    "logging",
    "presence_broadcast",
    "pubsub",
    "vcard",
    "vcard_xupdate",
    "voice_request_min_interval",
];

/// The room's options as `get_room_options` lists them: name → value as text.
pub fn options_of(config: &RoomConfig) -> serde_json::Value {
    let map = OPTIONS
        .iter()
        .map(|o| {
            (
                o.name.to_owned(),
                serde_json::Value::String((o.get)(config)),
            )
        })
        .collect();
    serde_json::Value::Object(map)
}

/// The form field and value for option `name` set to `value`.
pub fn field(name: &str, value: &str) -> Result<(&'static str, String), Reply> {
    let Some(o) = OPTIONS.iter().find(|o| o.name == name) else {
        return Err(if UNSUPPORTED.contains(&name) {
            Reply::bad(format!("Option '{name}' is not supported by this server"))
        } else {
            Reply::bad(format!("Unknown option '{name}'"))
        });
    };
    let invalid = || Reply::bad(format!("Invalid value '{value}' for option '{name}'"));
    let v = match o.kind {
        Kind::Text => value.to_owned(),
        Kind::Bool => match value {
            "true" => "1".to_owned(),
            "false" => "0".to_owned(),
            _ => return Err(invalid()),
        },
        Kind::NotBool => match value {
            "true" => "moderators".to_owned(),
            "false" => "anyone".to_owned(),
            _ => return Err(invalid()),
        },
        Kind::Number => match value.parse::<u32>() {
            Ok(n) if n > 0 => n.to_string(),
            _ => return Err(invalid()),
        },
    };
    Ok((o.field, v))
}

/// A submitted `muc#roomconfig` form setting `fields`.
pub fn form(fields: &[(&'static str, String)]) -> Element {
    let mut all = vec![forms::field("FORM_TYPE", [ns::MUC_ROOMCONFIG])];
    all.extend(
        fields
            .iter()
            .map(|(var, v)| forms::field(var, [v.as_str()])),
    );
    DataForm {
        type_: DataFormType::Submit,
        title: None,
        instructions: None,
        fields: all,
    }
    .into()
}

/// A new room from `create_room_with_opts`' options: room options, and (as ejabberd
/// 23.04 accepts) `affiliations` (`owner:bob@example.com,member:…`) and `subscribers`
/// (`bob@example.com:Bob:messages:subject,…`).
pub fn new_room(options: &[(String, String)]) -> Result<NewRoom, Reply> {
    let mut fields = Vec::new();
    let mut new = NewRoom::default();
    for (name, value) in options {
        match name.as_str() {
            "affiliations" => {
                for item in value.split(',').filter(|s| !s.is_empty()) {
                    new.affiliations.push(affiliation(item)?);
                }
            }
            "subscribers" => {
                for item in value.split(',').filter(|s| !s.is_empty()) {
                    new.subscribers.push(subscriber(item)?);
                }
            }
            _ => fields.push(field(name, value)?),
        }
    }
    if !fields.is_empty() {
        new.form = Some(form(&fields));
    }
    Ok(new)
}

/// `owner:bob@example.com`.
fn affiliation(item: &str) -> Result<(BareJid, Affiliation), Reply> {
    let (kind, jid) = item
        .split_once(':')
        .ok_or_else(|| Reply::bad("Invalid 'affiliation'"))?;
    let affiliation = match Affiliation::parse(kind) {
        Some(a) if a != Affiliation::None => a,
        _ => return Err(Reply::bad("Invalid 'affiliation'")),
    };
    let jid = Jid::new(jid).map_err(|_| Reply::bad("Malformed JID in affiliation"))?;
    Ok((jid.to_bare(), affiliation))
}

/// `bob@example.com:Bob:messages:subject` (node names without their prefix).
fn subscriber(item: &str) -> Result<(BareJid, String, Vec<Node>), Reply> {
    let mut parts = item.split(':');
    let jid = parts.next().unwrap_or_default();
    let nick = parts
        .next()
        .ok_or_else(|| Reply::bad("Invalid 'subscribers' - missing nick"))?;
    let names: Vec<&str> = parts.collect();
    if names.is_empty() {
        return Err(Reply::bad("Invalid 'subscribers' - missing nodes"));
    }
    let mut nodes = Vec::new();
    for n in names {
        let node = Node::parse(&format!("{}{n}", ns::MUCSUB_NODES_PREFIX))
            .ok_or_else(|| Reply::bad("Invalid 'subscribers' - unknown node name used"))?;
        nodes.push(node);
    }
    let jid = Jid::new(jid).map_err(|_| Reply::bad("Malformed JID in 'subscribers'"))?;
    Ok((jid.to_bare(), nick.to_owned(), nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_goes_through_the_owner_form_and_reads_back() {
        let mut config = RoomConfig::default();
        let set = [
            ("title", "Lab"),
            ("description", "Our lab"),
            ("allow_change_subj", "false"),
            ("allow_private_messages", "false"),
            ("public", "false"),
            ("public_list", "false"),
            ("persistent", "false"),
            ("moderated", "false"),
            ("members_by_default", "false"),
            ("members_only", "true"),
            ("allow_user_invites", "true"),
            ("allow_subscription", "false"),
            ("password", "sesame"),
            ("password_protected", "true"),
            ("anonymous", "false"),
            ("max_users", "50"),
            ("mam", "false"),
            ("lang", "fr"),
        ];
        assert_eq!(set.len(), OPTIONS.len());
        for (name, value) in set {
            let f = field(name, value).unwrap();
            config = config.apply_submit(&form(&[f])).unwrap();
        }
        let read = options_of(&config);
        for (name, value) in set {
            assert_eq!(read[name], value, "{name}");
        }
    }

    #[test]
    fn bad_names_and_values_are_refused_by_name() {
        assert_eq!(
            field("logging", "true").unwrap_err().body,
            "Option 'logging' is not supported by this server"
        );
        assert_eq!(
            field("bogus", "1").unwrap_err().body,
            "Unknown option 'bogus'"
        );
        assert_eq!(
            field("members_only", "maybe").unwrap_err().body,
            "Invalid value 'maybe' for option 'members_only'"
        );
        assert!(field("max_users", "lots").is_err());
    }

    #[test]
    fn creation_options_read_affiliations_and_subscribers() {
        let opts = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let new = new_room(&opts(&[
            ("members_only", "true"),
            (
                "affiliations",
                "owner:alice@localhost,member:bob@localhost/phone",
            ),
            ("subscribers", "bob@localhost:Bob:messages:subject"),
        ]))
        .unwrap();
        assert!(new.form.is_some());
        assert_eq!(new.affiliations[1].0.as_str(), "bob@localhost");
        assert_eq!(new.affiliations[1].1, Affiliation::Member);
        assert_eq!(
            new.subscribers,
            vec![(
                BareJid::new("bob@localhost").unwrap(),
                "Bob".to_string(),
                vec![Node::Messages, Node::Subject]
            )]
        );
        for bad in [
            ("subscribers", "bob@localhost"),
            ("subscribers", "bob@localhost:Bob"),
            ("subscribers", "bob@localhost:Bob:bogus"),
            ("affiliations", "king:bob@localhost"),
            ("affiliations", "member:@@"),
        ] {
            assert!(new_room(&opts(&[bad])).is_err(), "{bad:?}");
        }
    }
}
