//! The shapes JavaScript receives (docs/js-api.md), and their TypeScript declarations.
//!
//! The Rust structs here are the single source: each is serialised with serde-wasm-bindgen
//! into a plain object, and the `typescript_custom_section` below declares the same fields.
//! `tests/js-consumer` type-checks a consumer against the generated `pkg/mucsub.d.ts`, and
//! `tests/wasm_js_api.rs` checks that the objects really have the declared fields.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::event::{EventKind, RoomEvent, Source};
use crate::protocol::Node;
use crate::store::SubscriptionRecord;

use super::error::SdkError;
use super::js_modern::JsModern;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A MucSub event node, short form. */
export type Node = "messages" | "presence" | "affiliations" | "subject" | "config" |
                   "subscribers" | "participants" | "system";

/** One room event, whatever route it took (live, joined, offline, archive). */
export interface RoomEvent {
  kind: "message" | "subject" | "presence" | "participants" | "affiliation" |
        "config" | "subscribers" | "system" | "change";
  /** The room's bare JID. */
  room: string;
  /** The room's archive id, when it has one. */
  stanzaId?: string;
  /** The message id given by the sender. */
  id?: string;
  /** Sender nick. */
  nick?: string;
  /** Sender real JID, when the room shows it. */
  jid?: string;
  body?: string;
  subject?: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  source: "live" | "joined" | "offline" | "archive";
  /** presence: false for unavailable; participants: true for a join; subscribers: true for
   *  a subscription. */
  available?: boolean;
  joined?: boolean;
  subscribed?: boolean;
  role?: string;
  affiliation?: string;
  /** MUC status codes (presence, affiliation, config). */
  codes?: number[];
  reason?: string;
  actor?: string;
  /** config: the room was destroyed. */
  destroyed?: boolean;
}

export interface Subscription {
  room: string;
  nick: string;
  nodes: Node[];
  /** Stored messages after the read marker (`markRead`) that we did not send; every
   *  stored message of others before the first `markRead`. */
  unread: number;
  /** The newest stored event of the room. */
  last?: RoomEvent;
}

export interface Subscriber {
  jid?: string;
  nick: string;
  nodes: Node[];
}

export type ConnectionState = "disconnected" | "connecting" | "online" | "reconnecting" | "closed";

export interface SyncProgress {
  room: string;
  fetched: number;
  complete: boolean;
  gap: boolean;
}

/** A room's read marker moved because another device of the account read further
 *  (XEP-0490); `unread` is the room's unread count now. */
export interface ReadChange {
  room: string;
  unread: number;
}

export interface SyncSummary {
  rooms: number;
  fetched: number;
  gaps: number;
}

export type MucSubErrorCode = "auth-failed" | "not-connected" | "timeout" | "network" | "store" |
  "bad-request" | "forbidden" | "not-allowed" | "not-authorized" | "conflict" |
  "item-not-found" | "registration-required" | "jid-malformed" | "not-acceptable" |
  "service-unavailable" | "internal";

/** Every error the SDK throws or reports is a JavaScript Error with a stable code. */
export interface MucSubError extends Error {
  code: MucSubErrorCode;
}

/** What a `credentials` callback gives for one connection. */
export type Credentials =
  /** A token signed by the app's backend (a JWT): sent with SASL PLAIN, over wss:// or loopback only. */
  | { token: string }
  | { password: string };

export interface ClientOptionsBase {
  /** XMPP over WebSocket endpoint (RFC 7395), e.g. "ws://127.0.0.1:5280/ws". */
  url: string;
  /** Bare JID; the server binds a resource. */
  jid: string;
  /** IndexedDB database name. */
  store: string;
  /** Resource to ask for (the server may pick another). */
  resource?: string;
  /** Archive page size of the resync (default 100). */
  pageSize?: number;
}

/** A password, or a callback the client asks before every connection (the first,
 *  each reconnect, each push registration), so short-lived tokens work; or neither, once
 *  this device signed in: the FAST token the server issued then (kept in IndexedDB, never
 *  the password) signs it in, and a wake resumes the stream in one round trip. */
export type ClientOptions = ClientOptionsBase & (
  | { password: string; credentials?: never }
  | { credentials: () => Credentials | Promise<Credentials>; password?: never }
  | { password?: never; credentials?: never }
);

export interface SubscribeOptions {
  nick: string;
  /** Defaults to every node. */
  nodes?: Node[];
  password?: string;
}

export interface HistoryOptions {
  /** Return events older than this stanza-id (default: the newest). */
  before?: string;
  /** Page size (default 50). */
  limit?: number;
}

export interface HistoryPage {
  /** Oldest first. */
  events: RoomEvent[];
  /** True when nothing older exists in the store or the archive. */
  complete: boolean;
}

export interface SendResult {
  /** The message id. */
  id: string;
}

/** One room's subscription changed, whoever changed it: this client, another device of
 *  the account, a moderator, or the room removing it (docs/protocol.md S13, S20). */
export interface SubscriptionChange {
  room: string;
  /** False when the account is no longer subscribed. */
  subscribed: boolean;
  /** The subscription nick now in force (absent when unsubscribed). */
  nick?: string;
  /** The nodes now in force (empty when unsubscribed). */
  nodes: Node[];
}

/**
 * Which tab of the app runs the connection for a store: the `leader` holds the store's Web
 * Lock and does the work; a `follower` forwards its calls to it and gets its callbacks.
 */
export type TabRole = "leader" | "follower";

export interface ClientEvents {
  event: RoomEvent;
  /** A stored message changed (a correction, retraction, moderation or reaction folded in,
   *  whatever order they came in): the `message` event as it now is, same `stanzaId` / `id`. */
  update: RoomEvent;
  connection: ConnectionState;
  sync: SyncProgress;
  subscription: SubscriptionChange;
  read: ReadChange;
  error: MucSubError;
  role: TabRole;
}

export interface MucSubClient {
  /** Register a callback; returns nothing. Several callbacks per name are allowed. */
  on<K extends keyof ClientEvents>(name: K, callback: (value: ClientEvents[K]) => void): void;
  /** Remove a callback registered with `on`. */
  off<K extends keyof ClientEvents>(name: K, callback: (value: ClientEvents[K]) => void): void;
}
"#;

/// `RoomEvent` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsRoomEvent {
    /// Event kind.
    pub kind: &'static str,
    /// Room bare JID.
    pub room: String,
    /// Archive id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stanza_id: Option<String>,
    /// Sender's message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sender nick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// Sender real JID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jid: Option<String>,
    /// Message or system body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Milliseconds since the epoch.
    pub timestamp: f64,
    /// Route.
    pub source: &'static str,
    /// Presence availability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    /// Participants: join or leave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<bool>,
    /// Subscribers: subscribed or unsubscribed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<bool>,
    /// MUC role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// MUC affiliation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    /// MUC status codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<u16>>,
    /// Reason given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Acting moderator's nick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Room destroyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed: Option<bool>,
    /// Issue 22: occupant-id, reply, corrections, retraction, reactions; what a change does.
    #[serde(flatten)]
    pub modern: JsModern,
}

impl JsRoomEvent {
    /// Convert a core event.
    pub fn from_event(e: &RoomEvent) -> Self {
        let mut out = JsRoomEvent {
            kind: "system",
            room: e.room.clone(),
            stanza_id: e.stanza_id.clone(),
            id: e.message_id.clone(),
            nick: e.nick.clone(),
            jid: e.real_jid.clone(),
            body: None,
            subject: None,
            timestamp: e.timestamp.millis() as f64,
            source: source_str(e.source),
            available: None,
            joined: None,
            subscribed: None,
            role: None,
            affiliation: None,
            codes: None,
            reason: None,
            actor: None,
            destroyed: None,
            modern: JsModern::default(),
        };
        let (modern, edit_body) = JsModern::of(e);
        out.modern = modern;
        match &e.kind {
            EventKind::Message { body } => {
                out.kind = "message";
                out.body = Some(body.clone());
            }
            EventKind::Subject { subject } => {
                out.kind = "subject";
                out.subject = Some(subject.clone());
            }
            EventKind::Presence {
                available,
                role,
                affiliation,
                codes,
            } => {
                out.kind = "presence";
                out.available = Some(*available);
                out.role = role.clone();
                out.affiliation = affiliation.clone();
                out.codes = Some(codes.clone());
            }
            EventKind::Participants {
                joined,
                role,
                affiliation,
            } => {
                out.kind = "participants";
                out.joined = Some(*joined);
                out.role = role.clone();
                out.affiliation = affiliation.clone();
            }
            EventKind::Affiliation {
                affiliation,
                role,
                codes,
                reason,
                actor,
            } => {
                out.kind = "affiliation";
                out.affiliation = affiliation.clone();
                out.role = role.clone();
                out.codes = Some(codes.clone());
                out.reason = reason.clone();
                out.actor = actor.clone();
            }
            EventKind::Config {
                codes,
                destroyed,
                reason,
            } => {
                out.kind = "config";
                out.codes = Some(codes.clone());
                out.destroyed = Some(*destroyed);
                out.reason = reason.clone();
            }
            EventKind::Subscribers { subscribed } => {
                out.kind = "subscribers";
                out.subscribed = Some(*subscribed);
            }
            EventKind::System { body } => {
                out.kind = "system";
                out.body = body.clone();
            }
            // What it does is in `modern`; a correction's new body is its `body`.
            EventKind::Change { .. } => {
                out.kind = "change";
                out.body = edit_body;
            }
        }
        out
    }
}

/// The `source` string of the JS API.
pub fn source_str(s: Source) -> &'static str {
    match s {
        Source::Live => "live",
        Source::Joined => "joined",
        Source::Offline => "offline",
        Source::Archive => "archive",
    }
}

/// `Subscription` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsSubscription {
    /// Room bare JID.
    pub room: String,
    /// Subscription nick.
    pub nick: String,
    /// Short node names.
    pub nodes: Vec<&'static str>,
    /// Unread count.
    pub unread: u32,
    /// Newest stored event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<JsRoomEvent>,
}

/// `Subscriber` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsSubscriber {
    /// Real JID when visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jid: Option<String>,
    /// Nick.
    pub nick: String,
    /// Short node names.
    pub nodes: Vec<&'static str>,
}

/// `SubscriptionChange` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsSubscriptionChange {
    /// Room bare JID.
    pub room: String,
    /// Still (or newly) subscribed.
    pub subscribed: bool,
    /// Subscription nick in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// Short node names in force.
    pub nodes: Vec<&'static str>,
}

impl JsSubscriptionChange {
    /// `room`'s subscription as it now is (`None`: gone).
    pub fn new(room: String, now: Option<SubscriptionRecord>) -> Self {
        JsSubscriptionChange {
            room,
            subscribed: now.is_some(),
            nick: now.as_ref().and_then(|r| r.nick.clone()),
            nodes: now.map(|r| node_names(&r.nodes)).unwrap_or_default(),
        }
    }
}

/// `SyncProgress` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsSyncProgress {
    /// Room bare JID.
    pub room: String,
    /// Events fetched so far for this room in this resync.
    pub fetched: u32,
    /// The room is caught up.
    pub complete: bool,
    /// A gap was recorded.
    pub gap: bool,
}

/// `ReadChange` for JavaScript: the `read` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsRead {
    /// Room bare JID.
    pub room: String,
    /// Unread messages now.
    pub unread: u32,
}

/// `SyncSummary` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsSyncSummary {
    /// Rooms resynced.
    pub rooms: u32,
    /// Events fetched.
    pub fetched: u32,
    /// Gaps recorded.
    pub gaps: u32,
}

/// `HistoryPage` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsHistoryPage {
    /// Oldest first.
    pub events: Vec<JsRoomEvent>,
    /// Nothing older exists.
    pub complete: bool,
}

/// `SendResult` for JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsSendResult {
    /// Message id.
    pub id: String,
}

/// Short node names for JavaScript.
pub fn node_names(nodes: &[Node]) -> Vec<&'static str> {
    nodes.iter().map(|n| n.short()).collect()
}

/// Parse short node names from JavaScript; unknown names are a `bad-request` (unlike the
/// wire, where unknown nodes are dropped, an app passing a typo wants to know).
pub fn parse_node_names(names: &[String]) -> Result<Vec<Node>, SdkError> {
    let mut out = Vec::new();
    for n in names {
        let node = Node::from_short(n)
            .ok_or_else(|| SdkError::bad_request(format!("unknown node '{n}'")))?;
        if !out.contains(&node) {
            out.push(node);
        }
    }
    Ok(out)
}

/// Serialise a value into a plain JS object (maps as objects, `None` fields omitted: every
/// optional field of the API types skips serialising when absent), as JSON text that
/// `JSON.parse` turns into the object. serde_json is in the package for the chunks and the
/// event batches anyway: serde-wasm-bindgen's serializer, and a second copy of the code of
/// every type serialised both ways, were only here (issue 24, package size: 3.5 KB
/// gzipped). A value that is `null` as a whole (`()`, `None`) is `undefined`, as
/// serde-wasm-bindgen made it: a method resolving with nothing resolves with `undefined`.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, SdkError> {
    let internal = |m: String| SdkError::new(super::error::Code::Internal, m);
    let text = serde_json::to_string(value).map_err(|e| internal(e.to_string()))?;
    if text == "null" {
        return Ok(JsValue::UNDEFINED);
    }
    js_sys::JSON::parse(&text).map_err(|e| internal(super::error::describe_js(&e)))
}

/// The non-empty string at `path` (`obj.a.b`), if any.
pub(crate) fn string_at(obj: &JsValue, path: &[&str]) -> Option<String> {
    let mut v = obj.clone();
    for key in path {
        if !v.is_object() {
            return None;
        }
        v = js_sys::Reflect::get(&v, &(*key).into()).ok()?;
    }
    v.as_string().filter(|s| !s.is_empty())
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::collections::BTreeMap;

    use js_sys::{Array, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_test::*;

    use super::{to_js, JsSendResult, JsSubscriber};

    wasm_bindgen_test_configure!(run_in_browser);

    /// The values the app gets are what serde-wasm-bindgen gave it before `to_js` went
    /// through JSON: nothing is `undefined`, absent fields are absent, maps are objects.
    #[wasm_bindgen_test]
    fn values_for_the_app_keep_their_shape() {
        assert!(to_js(&()).unwrap().is_undefined());
        assert!(to_js(&None::<JsSendResult>).unwrap().is_undefined());
        let s = to_js(&JsSubscriber {
            jid: None,
            nick: "n".into(),
            nodes: vec!["messages"],
        })
        .unwrap();
        assert!(!Reflect::has(&s, &"jid".into()).unwrap());
        assert_eq!(Reflect::get(&s, &"nick".into()).unwrap(), "n");
        let nodes = Array::from(&Reflect::get(&s, &"nodes".into()).unwrap());
        assert_eq!(nodes.to_vec(), vec![JsValue::from("messages")]);
        let map = to_js(&BTreeMap::from([("👍".to_owned(), vec![1u32])])).unwrap();
        assert!(!map.has_type::<js_sys::Map>());
        let counts = Array::from(&Reflect::get(&map, &"👍".into()).unwrap());
        assert_eq!(counts.to_vec(), vec![JsValue::from(1)]);
    }
}
