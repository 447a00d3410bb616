//! The command table: every command the HTTP API has, with its arguments and the shape of
//! its result, named and shaped as ejabberd's (`ejabberd_commands` of `ejabberd_admin`,
//! `mod_admin_extra` and `mod_muc_admin`, 23.01; `create_room_with_opts`' `subscribers` and
//! `affiliations` options as 23.04). The one description of the API: requests are checked
//! against it ([`super::command`]), `/api/openapi.json` is generated from it
//! ([`super::openapi`]), and `docs/api.md` must name every command in it (a test).

/// What an argument holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    /// `[{"name": "…", "value": "…"}, …]` (or an object `{"name": "value", …}`).
    Options,
    /// `[{"jid": "…", "nick": "…"}, …]`.
    Users,
}

/// One argument.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub ty: ArgType,
    pub desc: &'static str,
}

/// What a command answers on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// `0`.
    Code,
    /// A JSON string.
    Text,
    /// A list of strings.
    Strings,
    /// An object of option names and values (text).
    Options,
    /// `[{"username", "domain", "affiliation", "reason"}]`.
    Affiliations,
    /// `[{"jid", "nick", "role"}]`.
    Occupants,
    /// `[{"roomjid", "usernick", "nodes": [...]}]`.
    Subscriptions,
    /// A number: how many things the command did (`revoke_fast_tokens`: tokens revoked).
    Count,
}

/// One command.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub summary: &'static str,
    pub args: &'static [Arg],
    pub returns: Returns,
    /// Older argument names ejabberd still accepts: (old, new).
    pub renames: &'static [(&'static str, &'static str)],
    /// Example arguments, as JSON text.
    pub example: &'static str,
}

const fn s(name: &'static str, desc: &'static str) -> Arg {
    Arg {
        name,
        ty: ArgType::String,
        desc,
    }
}

const USER: Arg = s("user", "Account name (the JID's local part)");
const HOST: Arg = s("host", "The server's domain");
const NAME: Arg = s("name", "Room name (the local part of the room's JID)");
const SERVICE: Arg = s("service", "The MUC service (`conference.<domain>`)");
const ROOM: Arg = s("room", "The room's JID");
const NODES: Arg = s(
    "nodes",
    "MucSub nodes separated by commas (`urn:xmpp:mucsub:nodes:messages,…`); unknown ones are left out",
);

/// Every command, in the order `docs/api.md` lists them.
pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "register",
        summary: "Creates an account",
        args: &[USER, HOST, s("password", "Its password")],
        returns: Returns::Text,
        renames: &[],
        example: r#"{"user":"bob","host":"localhost","password":"SomEPass44"}"#,
    },
    Spec {
        name: "unregister",
        summary: "Deletes an account and its offline messages",
        args: &[USER, HOST],
        returns: Returns::Text,
        renames: &[],
        example: r#"{"user":"bob","host":"localhost"}"#,
    },
    Spec {
        name: "change_password",
        summary: "Changes an account's password",
        args: &[USER, HOST, s("newpass", "The new password")],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"user":"bob","host":"localhost","newpass":"blank"}"#,
    },
    Spec {
        name: "registered_users",
        summary: "Lists the accounts",
        args: &[HOST],
        returns: Returns::Strings,
        renames: &[],
        example: r#"{"host":"localhost"}"#,
    },
    Spec {
        name: "revoke_fast_tokens",
        summary: "Revokes an account's FAST sign-in tokens (XEP-0484) on one device or all; \
                  answers how many",
        args: &[
            USER,
            HOST,
            s(
                "device",
                "The device's `<user-agent id>` (as `mucsub-server user fast list` shows), \
                 or an empty string for every device",
            ),
        ],
        returns: Returns::Count,
        renames: &[],
        example: r#"{"user":"bob","host":"localhost","device":"d6ae0a2c-4cbe-4d34-8e5c-5d1f06c3e8b9"}"#,
    },
    Spec {
        name: "create_room",
        summary: "Creates a room with the service's defaults, open at once",
        args: &[NAME, SERVICE, HOST],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost","host":"localhost"}"#,
    },
    Spec {
        name: "create_room_with_opts",
        summary: "Creates a room with options, affiliations and subscribers, open at once",
        args: &[
            NAME,
            SERVICE,
            HOST,
            Arg {
                name: "options",
                ty: ArgType::Options,
                desc: "Room options (as `change_room_option`), and `affiliations` \
                       (`owner:JID,member:JID`) and `subscribers` (`JID:Nick:node:node,…`, \
                       node names without `urn:xmpp:mucsub:nodes:`)",
            },
        ],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost","host":"localhost","options":[{"name":"members_only","value":"true"},{"name":"subscribers","value":"bob@localhost:Bob:messages:subject"}]}"#,
    },
    Spec {
        name: "destroy_room",
        summary: "Destroys a room; occupants and subscribers are told",
        args: &[NAME, SERVICE],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost"}"#,
    },
    Spec {
        name: "muc_online_rooms",
        summary: "Lists the rooms (`global` for every service)",
        args: &[SERVICE],
        returns: Returns::Strings,
        renames: &[("host", "service")],
        example: r#"{"service":"conference.localhost"}"#,
    },
    Spec {
        name: "get_room_options",
        summary: "A room's options",
        args: &[NAME, SERVICE],
        returns: Returns::Options,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost"}"#,
    },
    Spec {
        name: "change_room_option",
        summary: "Changes one option of a room, as its owner's configuration form would",
        args: &[
            NAME,
            SERVICE,
            s("option", "Option name (`members_only`, `title`…)"),
            s("value", "Its value (`true`/`false` for a yes-or-no option)"),
        ],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost","option":"members_only","value":"true"}"#,
    },
    Spec {
        name: "set_room_affiliation",
        summary: "Sets an account's affiliation with a room",
        args: &[
            NAME,
            SERVICE,
            s("jid", "The account's JID"),
            s(
                "affiliation",
                "`owner`, `admin`, `member`, `outcast` or `none`",
            ),
        ],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost","jid":"bob@localhost","affiliation":"member"}"#,
    },
    Spec {
        name: "get_room_affiliations",
        summary: "A room's affiliations",
        args: &[NAME, SERVICE],
        returns: Returns::Affiliations,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost"}"#,
    },
    Spec {
        name: "get_room_occupants",
        summary: "Who is in a room",
        args: &[NAME, SERVICE],
        returns: Returns::Occupants,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost"}"#,
    },
    Spec {
        name: "subscribe_room",
        summary: "Subscribes an account to a room (MucSub); answers the nodes accepted",
        args: &[
            s("user", "The account's JID"),
            s("nick", "Its nick in the room"),
            ROOM,
            NODES,
        ],
        returns: Returns::Strings,
        renames: &[],
        example: r#"{"user":"bob@localhost","nick":"Bob","room":"room1@conference.localhost","nodes":"urn:xmpp:mucsub:nodes:messages,urn:xmpp:mucsub:nodes:affiliations"}"#,
    },
    Spec {
        name: "subscribe_room_many",
        summary: "Subscribes several accounts to a room (at most 50), in order",
        args: &[
            Arg {
                name: "users",
                ty: ArgType::Users,
                desc: "The accounts' JIDs and nicks",
            },
            ROOM,
            NODES,
        ],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"users":[{"jid":"bob@localhost","nick":"Bob"},{"jid":"carol@localhost","nick":"Carol"}],"room":"room1@conference.localhost","nodes":"urn:xmpp:mucsub:nodes:messages"}"#,
    },
    Spec {
        name: "unsubscribe_room",
        summary: "Ends an account's subscription to a room",
        args: &[s("user", "The account's JID"), ROOM],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"user":"bob@localhost","room":"room1@conference.localhost"}"#,
    },
    Spec {
        name: "get_subscribers",
        summary: "A room's subscribers",
        args: &[NAME, SERVICE],
        returns: Returns::Strings,
        renames: &[],
        example: r#"{"name":"room1","service":"conference.localhost"}"#,
    },
    Spec {
        name: "get_user_subscriptions",
        summary: "The rooms an account is subscribed to",
        args: &[USER, HOST],
        returns: Returns::Subscriptions,
        renames: &[],
        example: r#"{"user":"bob","host":"localhost"}"#,
    },
    Spec {
        name: "send_message",
        summary: "Sends a message as `from`; a groupchat goes through the room's rules",
        args: &[
            s("type", "`normal`, `chat`, `headline` or `groupchat`"),
            s("from", "The sender's JID"),
            s("to", "The receiver's JID (a room's for groupchat)"),
            s("subject", "Subject, or an empty string"),
            s("body", "Body, or an empty string"),
        ],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"type":"groupchat","from":"bob@localhost","to":"room1@conference.localhost","subject":"","body":"Hello"}"#,
    },
    Spec {
        name: "send_stanza",
        summary: "Sends a stanza as `from` to `to`",
        args: &[
            s("from", "The sender's JID"),
            s("to", "The receiver's JID"),
            s("stanza", "The stanza, as XML"),
        ],
        returns: Returns::Code,
        renames: &[],
        example: r#"{"from":"bob@localhost","to":"alice@localhost","stanza":"<message type='chat'><body>Hi</body></message>"}"#,
    },
];

/// The command named `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| s.name == name)
}
