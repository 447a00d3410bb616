//! `mucsub-server room …`: room administration from the command line, through the running
//! server's HTTP API, as `ejabberdctl` talks to its running node.
//!
//! Why through the server and not on the data directory: a running server holds its loaded
//! rooms in memory (occupants, subscribers, configuration) and is the only writer of their
//! state; a change written to the database behind its back would be overwritten or never
//! announced to occupants and subscribers. Going through the API, the CLI changes a room
//! with the same rules, the same commit and the same notifications as a client or an app's
//! backend. Without a running server there is no room to administer live, and the CLI says
//! so (start it with `mucsub-server run`).

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::call;
use super::reply::Reply;
use crate::config::Config;

/// What `room` does.
#[derive(Debug, Subcommand)]
pub enum RoomAction {
    /// Creates a room, open at once.
    Create {
        name: String,
        /// A room option, `KEY=VALUE` (`members_only=true`, `title=Lab`…; as
        /// `change_room_option`).
        #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// A subscriber from the start: `JID:Nick:node:node` (nodes `messages`, `subject`…).
        #[arg(long = "subscriber", value_name = "JID:NICK:NODES")]
        subscribers: Vec<String>,
        /// An affiliation from the start: `owner:JID`, `member:JID`…
        #[arg(long = "affiliation", value_name = "AFFILIATION:JID")]
        affiliations: Vec<String>,
    },
    /// Destroys a room; occupants and subscribers are told.
    Destroy { name: String },
    /// Lists the rooms.
    List,
    /// Shows a room's options, or changes them with `--set`.
    Options {
        name: String,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Subscribes an account to a room (MucSub).
    Subscribe {
        name: String,
        /// The account's JID (`bob@example.org`).
        jid: String,
        #[arg(long)]
        nick: String,
        /// Nodes, separated by commas, with or without `urn:xmpp:mucsub:nodes:`.
        #[arg(
            long,
            default_value = "messages,subject,affiliations,config,subscribers"
        )]
        nodes: String,
    },
    /// Ends an account's subscription to a room.
    Unsubscribe { name: String, jid: String },
    /// Lists a room's subscribers.
    Subscribers { name: String },
    /// Lists a room's affiliations, or sets one (`owner`, `admin`, `member`, `outcast`,
    /// `none`).
    Affiliation {
        name: String,
        jid: Option<String>,
        affiliation: Option<String>,
    },
}

/// Where the server's API is and how to get in.
pub struct Target {
    /// `http://host:port`.
    pub url: String,
    pub token: Option<String>,
}

impl Target {
    /// `url` or the config's HTTP listener (a wildcard address reached on loopback);
    /// `token`, or the config's first token allowed `commands`.
    pub fn new(
        config: &Config,
        url: Option<String>,
        token: Option<String>,
        commands: &[&str],
    ) -> anyhow::Result<Target> {
        let url = url.unwrap_or_else(|| {
            let l = &config.listeners.http;
            let host = match l.host() {
                "0.0.0.0" | "" => "127.0.0.1",
                "::" | "[::]" => "[::1]",
                h => h,
            };
            format!("http://{host}:{}", l.port())
        });
        let token = match token {
            Some(t) => Some(t),
            None => {
                let settings: super::access::Settings = config.module_table("api", &config.api)?;
                let full = settings.tokens.first().map(|s| s.expose().to_owned());
                full.or_else(|| {
                    settings
                        .token
                        .iter()
                        .find(|t| {
                            t.commands
                                .as_ref()
                                .is_none_or(|cs| commands.iter().all(|c| cs.iter().any(|x| x == c)))
                        })
                        .map(|t| t.secret.expose().to_owned())
                })
            }
        };
        Ok(Target { url, token })
    }
}

/// The API commands `action` calls.
pub fn commands(action: &RoomAction) -> &'static [&'static str] {
    match action {
        RoomAction::Create { .. } => &["create_room_with_opts"],
        RoomAction::Destroy { .. } => &["destroy_room"],
        RoomAction::List => &["muc_online_rooms"],
        RoomAction::Options { set, .. } if set.is_empty() => &["get_room_options"],
        RoomAction::Options { .. } => &["change_room_option"],
        RoomAction::Subscribe { .. } => &["subscribe_room"],
        RoomAction::Unsubscribe { .. } => &["unsubscribe_room"],
        RoomAction::Subscribers { .. } => &["get_subscribers"],
        RoomAction::Affiliation { jid: None, .. } => &["get_room_affiliations"],
        RoomAction::Affiliation { .. } => &["set_room_affiliation"],
    }
}

fn key_value(s: &str) -> anyhow::Result<(&str, &str)> {
    s.split_once('=')
        .ok_or_else(|| anyhow::anyhow!("'{s}' is not KEY=VALUE"))
}

/// `messages` → `urn:xmpp:mucsub:nodes:messages`; full names stay.
fn full_nodes(list: &str) -> String {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            if n.contains(':') {
                n.to_owned()
            } else {
                format!("{}{n}", crate::ns::MUCSUB_NODES_PREFIX)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The calls `action` makes: (command, arguments).
pub fn calls(config: &Config, action: &RoomAction) -> anyhow::Result<Vec<(&'static str, Value)>> {
    let service = config.muc_service.as_str();
    let room = |name: &str| format!("{name}@{service}");
    Ok(match action {
        RoomAction::Create {
            name,
            options,
            subscribers,
            affiliations,
        } => {
            let mut opts = Vec::new();
            for o in options {
                let (k, v) = key_value(o)?;
                opts.push(json!({"name": k, "value": v}));
            }
            if !subscribers.is_empty() {
                opts.push(json!({"name": "subscribers", "value": subscribers.join(",")}));
            }
            if !affiliations.is_empty() {
                opts.push(json!({"name": "affiliations", "value": affiliations.join(",")}));
            }
            let args =
                json!({"name": name, "service": service, "host": config.domain, "options": opts});
            vec![("create_room_with_opts", args)]
        }
        RoomAction::Destroy { name } => {
            vec![("destroy_room", json!({"name": name, "service": service}))]
        }
        RoomAction::List => vec![("muc_online_rooms", json!({"service": service}))],
        RoomAction::Options { name, set } if set.is_empty() => {
            vec![(
                "get_room_options",
                json!({"name": name, "service": service}),
            )]
        }
        RoomAction::Options { name, set } => set
            .iter()
            .map(|kv| {
                let (k, v) = key_value(kv)?;
                let args = json!({"name": name, "service": service, "option": k, "value": v});
                Ok(("change_room_option", args))
            })
            .collect::<anyhow::Result<_>>()?,
        RoomAction::Subscribe {
            name,
            jid,
            nick,
            nodes,
        } => {
            let args =
                json!({"user": jid, "nick": nick, "room": room(name), "nodes": full_nodes(nodes)});
            vec![("subscribe_room", args)]
        }
        RoomAction::Unsubscribe { name, jid } => {
            vec![("unsubscribe_room", json!({"user": jid, "room": room(name)}))]
        }
        RoomAction::Subscribers { name } => {
            vec![("get_subscribers", json!({"name": name, "service": service}))]
        }
        RoomAction::Affiliation {
            name,
            jid: None,
            affiliation: _,
        } => vec![(
            "get_room_affiliations",
            json!({"name": name, "service": service}),
        )],
        RoomAction::Affiliation {
            name,
            jid: Some(jid),
            affiliation,
        } => {
            let Some(a) = affiliation else {
                anyhow::bail!("give the affiliation to set after the JID");
            };
            let args = json!({"name": name, "service": service, "jid": jid, "affiliation": a});
            vec![("set_room_affiliation", args)]
        }
    })
}

/// What the CLI prints for a successful answer.
pub fn render(action: &RoomAction, config: &Config, body: &Value) -> String {
    let lines = |v: &Value| -> String {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| format!("{s}\n"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let service = &config.muc_service;
    match action {
        RoomAction::Create { name, .. } => format!("created {name}@{service}\n"),
        RoomAction::Destroy { name } => format!("destroyed {name}@{service}\n"),
        RoomAction::Options { set, .. } if !set.is_empty() => String::new(),
        RoomAction::Options { .. } => body
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k} = {}\n", v.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        RoomAction::Unsubscribe { name, jid } => {
            format!("{jid} unsubscribed from {name}@{service}\n")
        }
        RoomAction::Affiliation { jid: None, .. } => body
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        let user = i["username"].as_str().unwrap_or_default();
                        let domain = i["domain"].as_str().unwrap_or_default();
                        let jid = if user.is_empty() {
                            domain.to_owned()
                        } else {
                            format!("{user}@{domain}")
                        };
                        format!("{jid} {}\n", i["affiliation"].as_str().unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        RoomAction::Affiliation {
            jid: Some(jid),
            affiliation,
            ..
        } => {
            format!(
                "{jid} is now {}\n",
                affiliation.as_deref().unwrap_or_default()
            )
        }
        RoomAction::List | RoomAction::Subscribe { .. } | RoomAction::Subscribers { .. } => {
            lines(body)
        }
    }
}

/// Runs `action` against the server at `target`; what to print.
pub async fn run(config: &Config, target: &Target, action: &RoomAction) -> anyhow::Result<String> {
    let mut last = Value::Null;
    for (command, args) in calls(config, action)? {
        let Reply { status, body } = call(&target.url, target.token.as_deref(), command, &args)
            .await
            .map_err(|e| {
                anyhow::anyhow!("{e} (is `mucsub-server run` running? --url names another address)")
            })?;
        if status != 200 {
            let message = match &body {
                Value::String(s) => s.clone(),
                other => other
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| other.to_string(), str::to_owned),
            };
            anyhow::bail!("{command}: {message} (HTTP {status})");
        }
        last = body;
    }
    Ok(render(action, config, &last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::command::{Command, Site};
    use crate::api::table::spec;

    #[test]
    fn every_action_makes_calls_the_api_accepts() {
        let mut config = Config::default();
        config.normalize().unwrap();
        let site = Site {
            domain: &config.domain,
            muc: &config.muc_service,
        };
        let limits = crate::xmlstream::Limits {
            max_stanza: 4096,
            max_depth: 16,
        };
        let actions = [
            RoomAction::Create {
                name: "lab".into(),
                options: vec!["members_only=true".into(), "title=Lab".into()],
                subscribers: vec!["bob@localhost:Bob:messages".into()],
                affiliations: vec!["owner:alice@localhost".into()],
            },
            RoomAction::Destroy { name: "lab".into() },
            RoomAction::List,
            RoomAction::Options {
                name: "lab".into(),
                set: vec![],
            },
            RoomAction::Options {
                name: "lab".into(),
                set: vec!["title=Lab".into(), "public=false".into()],
            },
            RoomAction::Subscribe {
                name: "lab".into(),
                jid: "bob@localhost".into(),
                nick: "Bob".into(),
                nodes: "messages, urn:xmpp:mucsub:nodes:subject".into(),
            },
            RoomAction::Unsubscribe {
                name: "lab".into(),
                jid: "bob@localhost".into(),
            },
            RoomAction::Subscribers { name: "lab".into() },
            RoomAction::Affiliation {
                name: "lab".into(),
                jid: None,
                affiliation: None,
            },
            RoomAction::Affiliation {
                name: "lab".into(),
                jid: Some("bob@localhost".into()),
                affiliation: Some("member".into()),
            },
        ];
        for action in &actions {
            for (command, args) in calls(&config, action).unwrap() {
                assert!(commands(action).contains(&command), "{action:?}");
                let parsed = Command::parse(
                    spec(command).unwrap(),
                    args.to_string().as_bytes(),
                    &site,
                    limits,
                );
                assert!(parsed.is_ok(), "{action:?}: {:?}", parsed.err());
            }
        }
        let sub = &actions[5];
        let (_, args) = &calls(&config, sub).unwrap()[0];
        assert_eq!(
            args["nodes"],
            "urn:xmpp:mucsub:nodes:messages,urn:xmpp:mucsub:nodes:subject"
        );
    }

    #[test]
    fn the_token_comes_from_the_config_when_not_given() {
        let config = Config::parse(
            "[api]\n[[api.token]]\nsecret = 'only-messages-0123'\ncommands = ['send_message']\n\
             [[api.token]]\nsecret = 'rooms-0123456789'\ncommands = ['destroy_room', 'muc_online_rooms']\n",
        )
        .unwrap();
        let t = Target::new(&config, None, None, &["destroy_room"]).unwrap();
        assert_eq!(t.token.as_deref(), Some("rooms-0123456789"));
        assert_eq!(t.url, "http://127.0.0.1:5280");
        let t = Target::new(&config, None, None, &["subscribe_room"]).unwrap();
        assert_eq!(t.token, None);
        let given = Target::new(&config, Some("http://h:1".into()), Some("x".into()), &[]).unwrap();
        assert_eq!(
            (given.url.as_str(), given.token.as_deref()),
            ("http://h:1", Some("x"))
        );
    }
}
