//! Runs a [`Command`] on the server's own services: accounts through the
//! [`AccountStore`](crate::storage::AccountStore), rooms through the MUC service's
//! [`MucHandle`] (each request applied by the room's task with the room's rules and
//! answered after its commit), other stanzas through the router as a session's would go.
//! Answers have ejabberd's shapes and, for refusals, its words.

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use serde_json::{json, Value};

use super::command::{Command, MessageKind};
use super::reply::Reply;
use super::room_options;
use crate::muc::{Answer, MucHandle, RequestError, RoomRequest};
use crate::ns;
use crate::stanza::set_attr;
use crate::storage::Credentials;
use crate::ServerContext;

/// The resource a stanza sent for a bare JID goes out with (a room sees it as that
/// account, not as any of its sessions; ejabberd names its own `modmucadmin`).
const RESOURCE: &str = "http-api";

/// Runs `cmd`.
pub async fn apply(cmd: Command, ctx: &ServerContext) -> Reply {
    let muc = ctx.extensions().get::<MucHandle>();
    match cmd {
        Command::Register { user, password } => register(ctx, user, password).await,
        Command::Unregister { user } => {
            if let Some(u) = user {
                // Its FAST tokens go with it (foreign key: storage/fast.rs).
                if let Err(e) = ctx.accounts.remove(&u).await {
                    tracing::error!(error = %e, "API: removing an account failed");
                    return Reply::internal();
                }
                // Removed for good (committed) before its sessions end, as ejabberd
                // disconnects a removed user: nothing keeps acting for an account that is gone.
                ctx.router.end_sessions(&u, "not-authorized");
            }
            Reply::text(200, "")
        }
        Command::ChangePassword { user, password } => {
            let Some(creds) = derive(password).await else {
                return Reply::internal();
            };
            // As the CLI's `user passwd`: the account's FAST tokens are revoked with it.
            match ctx.storage.change_credentials(&user, creds).await {
                Ok(Some(_)) => Reply::done(),
                Ok(None) => Reply::text(404, "unknown_user"),
                Err(e) => {
                    tracing::error!(error = %e, "API: changing a password failed");
                    Reply::internal()
                }
            }
        }
        Command::RevokeFastTokens { user, device } => {
            revoke_fast(ctx, &user, device.as_deref()).await
        }
        Command::RegisteredUsers => match ctx.accounts.list().await {
            Ok(users) => Reply::ok(json!(users)),
            Err(e) => {
                tracing::error!(error = %e, "API: listing accounts failed");
                Reply::internal()
            }
        },
        Command::GetUserSubscriptions { user } => {
            let Some(muc) = muc else {
                return Reply::internal();
            };
            let Some(user) = user else {
                return Reply::ok(json!([]));
            };
            match muc.subscriptions_of(&user).await {
                Ok(subs) => Reply::ok(
                    subs.into_iter()
                        .map(|s| {
                            json!({
                                "roomjid": format!("{}@{}", s.room, muc.domain()),
                                "usernick": s.nick,
                                "nodes": s.nodes,
                            })
                        })
                        .collect(),
                ),
                Err(e) => {
                    tracing::error!(error = %e, "API: reading subscriptions failed");
                    Reply::internal()
                }
            }
        }
        Command::ListRooms => match muc {
            Some(muc) => match muc.rooms().await {
                Ok(rooms) => Reply::ok(rooms.iter().map(|r| r.to_string()).collect()),
                Err(e) => {
                    tracing::error!(error = %e, "API: listing rooms failed");
                    Reply::internal()
                }
            },
            None => Reply::internal(),
        },
        Command::SendMessage {
            kind,
            from,
            to,
            subject,
            body,
        } => {
            let mut m = Element::builder("message", ns::CLIENT).build();
            set_attr(&mut m, "type", kind.as_str());
            for (name, text) in [("subject", subject), ("body", body)] {
                if !text.is_empty() {
                    m.append_child(Element::builder(name, ns::CLIENT).append(text).build());
                }
            }
            let room_rules = kind == MessageKind::Groupchat;
            send(ctx, muc, from, to, m, room_rules).await
        }
        Command::SendStanza { from, to, stanza } => send(ctx, muc, from, to, stanza, true).await,
        room_cmd => match muc {
            Some(muc) => room(muc, room_cmd).await,
            None => Reply::internal(),
        },
    }
}

async fn register(ctx: &ServerContext, user: String, password: String) -> Reply {
    let Some(creds) = derive(password).await else {
        return Reply::internal();
    };
    let domain = &ctx.config.domain;
    match ctx.accounts.create(&user, creds).await {
        Ok(true) => Reply::text(200, format!("User {user}@{domain} successfully registered")),
        Ok(false) => Reply::error(
            409,
            10090,
            format!("User {user}@{domain} already registered"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "API: creating an account failed");
            Reply::error(500, 10001, format!("Can't register user {user}@{domain}"))
        }
    }
}

/// SCRAM credentials for `password`, derived off the async threads (PBKDF2).
async fn derive(password: String) -> Option<Credentials> {
    match tokio::task::spawn_blocking(move || Credentials::derive(&password)).await {
        Ok(Ok(c)) => Some(c),
        _ => None,
    }
}

/// The answer for a room request's error; `missing` is what the command says of a room
/// that does not exist.
fn room_error(e: RequestError, missing: &str) -> Reply {
    match e {
        RequestError::NoRoom => Reply::bad(missing),
        RequestError::Exists => Reply::bad("Room already exists"),
        RequestError::Refused { condition, text } if text.is_empty() => Reply::bad(condition),
        RequestError::Refused { text, .. } => Reply::bad(text),
        RequestError::Failed => Reply::internal(),
    }
}

/// The commands on one room.
async fn room(muc: &MucHandle, cmd: Command) -> Reply {
    // (room, request, what to answer when the room does not exist)
    let (room, req, missing) = match cmd {
        Command::CreateRoom { room, new } => (room, RoomRequest::Create(new), ""),
        Command::DestroyRoom { room } => (
            room,
            RoomRequest::Destroy { reason: None },
            "Room doesn't exists",
        ),
        Command::ChangeRoomOption { room, field } => (
            room,
            RoomRequest::Configure(room_options::form(&[field])),
            "Room not found",
        ),
        Command::SetRoomAffiliation {
            room,
            jid,
            affiliation,
        } => (
            room,
            RoomRequest::SetAffiliation { jid, affiliation },
            "Room doesn't exists",
        ),
        Command::Unsubscribe { room, user } => (
            room,
            RoomRequest::Unsubscribe { jid: user },
            "The room does not exist",
        ),
        Command::Subscribe {
            room,
            users,
            nodes,
            many,
        } => return subscribe(muc, &room, users, nodes, many).await,
        Command::GetRoomOptions { room } => {
            return match lookup(muc, room, RoomRequest::Options).await {
                Ok(Answer::Config(c)) => Reply::ok(room_options::options_of(&c)),
                // ejabberd lists no options for a room that does not exist.
                Err(RequestError::NoRoom) => Reply::ok(json!({})),
                other => unexpected(other, ""),
            };
        }
        Command::GetRoomAffiliations { room } => {
            return match lookup(muc, room, RoomRequest::Affiliations).await {
                Ok(Answer::Affiliations(list)) => Reply::ok(
                    list.into_iter()
                        .map(|(j, a)| {
                            json!({
                                "username": j.node().map(|n| n.as_str()).unwrap_or_default(),
                                "domain": j.domain().as_str(),
                                "affiliation": a.as_str(),
                                "reason": "",
                            })
                        })
                        .collect(),
                ),
                other => unexpected(other, "The room does not exist."),
            }
        }
        Command::GetRoomOccupants { room } => return match lookup(muc, room, RoomRequest::Occupants)
            .await
        {
            Ok(Answer::Occupants(list)) => Reply::ok(
                list.into_iter()
                    .map(
                        |o| json!({"jid": o.jid.as_str(), "nick": o.nick, "role": o.role.as_str()}),
                    )
                    .collect(),
            ),
            other => unexpected(other, "room_not_found"),
        },
        Command::GetSubscribers { room } => {
            return match lookup(muc, room, RoomRequest::Subscribers).await {
                Ok(Answer::Subscribers(list)) => {
                    Reply::ok(list.iter().map(|s| Value::from(s.jid.as_str())).collect())
                }
                other => unexpected(other, "The room does not exist"),
            }
        }
        _ => return Reply::internal(),
    };
    match muc.request(&room, req).await {
        Ok(_) => Reply::done(),
        Err(e) => room_error(e, missing),
    }
}

/// A lookup on a room that may not be able to exist at all.
async fn lookup(
    muc: &MucHandle,
    room: Option<BareJid>,
    req: RoomRequest,
) -> Result<Answer, RequestError> {
    match room {
        Some(room) => muc.request(&room, req).await,
        None => Err(RequestError::NoRoom),
    }
}

/// The answer to a lookup that did not give what it asks for.
fn unexpected(r: Result<Answer, RequestError>, missing: &str) -> Reply {
    match r {
        Err(e) => room_error(e, missing),
        Ok(_) => Reply::internal(),
    }
}

/// `subscribe_room` (answers the nodes) and `subscribe_room_many` (in order; stops at the
/// first refusal, as ejabberd does).
async fn subscribe(
    muc: &MucHandle,
    room: &BareJid,
    users: Vec<(BareJid, String)>,
    nodes: Vec<mucsub_protocol::Node>,
    many: bool,
) -> Reply {
    let mut accepted = Vec::new();
    for (jid, nick) in users {
        let req = RoomRequest::Subscribe {
            jid,
            nick,
            nodes: nodes.clone(),
        };
        match muc.request(room, req).await {
            Ok(Answer::Nodes(n)) => accepted = n,
            Ok(_) => return Reply::internal(),
            Err(e) => return room_error(e, "The room does not exist"),
        }
    }
    if many {
        Reply::done()
    } else {
        Reply::ok(accepted.iter().map(|n| Value::from(n.as_str())).collect())
    }
}

/// Sends `stanza` from `from` to `to`. To a room (or one of its occupants) with
/// `room_rules`, through the room's task as that user's own stanza: the room's refusal is
/// the answer, and a change is committed before it. Anything else goes through the router,
/// as a session's stanza would.
async fn send(
    ctx: &ServerContext,
    muc: Option<&MucHandle>,
    from: Jid,
    to: Jid,
    mut stanza: Element,
    room_rules: bool,
) -> Reply {
    set_attr(&mut stanza, "from", from.as_str());
    set_attr(&mut stanza, "to", to.as_str());
    if stanza.attr("id").is_none_or(str::is_empty) {
        set_attr(
            &mut stanza,
            "id",
            &format!("api-{:016x}", rand::random::<u64>()),
        );
    }
    let to_room =
        muc.filter(|m| room_rules && to.domain().as_str() == m.domain() && to.node().is_some());
    let Some(muc) = to_room else {
        ctx.router.route(stanza).await;
        return Reply::done();
    };
    let sender = match from.try_as_full() {
        Ok(full) => full.clone(),
        Err(bare) => match bare.with_resource_str(RESOURCE) {
            Ok(full) => full,
            Err(_) => return Reply::bad("Invalid 'from'"),
        },
    };
    set_attr(&mut stanza, "from", sender.as_str());
    let req = RoomRequest::Stanza {
        from: FullJid::clone(&sender),
        stanza,
    };
    match muc.request(&to.to_bare(), req).await {
        Ok(_) => Reply::done(),
        Err(e) => room_error(e, "Conference room does not exist"),
    }
}

/// Deletes the tokens (committed before the answer): the device's next token sign-in is
/// refused with `not-authorized`. Its live sessions go on, as after `user fast revoke`.
async fn revoke_fast(ctx: &ServerContext, user: &str, device: Option<&str>) -> Reply {
    let revoked = async {
        if ctx.accounts.credentials(user).await?.is_none() {
            return Ok(None);
        }
        ctx.fast.revoke(user, device).await.map(Some)
    };
    match revoked.await {
        Ok(Some(n)) => Reply::ok(json!(n)),
        Ok(None) => Reply::text(404, "unknown_user"),
        Err(e) => {
            tracing::error!(error = %e, "API: revoking FAST tokens failed");
            Reply::internal()
        }
    }
}
