//! Every XML namespace (and the form types used as namespaces) that the SDK or the server
//! reads or writes, defined once. Where two names exist for one namespace, the second is an
//! alias of the first (the SDK and the server grew different spellings; both stay valid).

// ---- streams (RFC 6120, RFC 7395) ---------------------------------------------------------

/// Client stanzas.
pub const CLIENT: &str = "jabber:client";
/// Alias of [`CLIENT`] (the SDK's spelling, as xmpp-parsers spells it).
pub const JABBER_CLIENT: &str = CLIENT;
/// `<stream:stream/>` and `<stream:features/>`.
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// WebSocket framing (`<open/>`, `<close/>`).
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// Stream error conditions.
pub const STREAMS_ERR: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Stanza error conditions.
pub const STANZAS_ERR: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Alias of [`STANZAS_ERR`] (the SDK's spelling, as xmpp-parsers spells it).
pub const XMPP_STANZAS: &str = STANZAS_ERR;
/// STARTTLS.
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding.
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// The legacy session establishment (RFC 3921), advertised as optional.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Stream Management (XEP-0198).
pub const SM: &str = "urn:xmpp:sm:3";
/// Extensible SASL Profile, "SASL2" (XEP-0388).
pub const SASL2: &str = "urn:xmpp:sasl:2";
/// Bind 2 (XEP-0386).
pub const BIND2: &str = "urn:xmpp:bind:0";
/// Fast Authentication Streamlining Tokens (XEP-0484).
pub const FAST: &str = "urn:xmpp:fast:0";

// ---- core extensions ----------------------------------------------------------------------

/// Service discovery, info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Service discovery, items.
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XMPP Ping (XEP-0199).
pub const PING: &str = "urn:xmpp:ping";
/// Roster (RFC 6121).
pub const ROSTER: &str = "jabber:iq:roster";
/// In-band registration (XEP-0077).
pub const REGISTER: &str = "jabber:iq:register";
/// Its stream feature.
pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// Delayed delivery (XEP-0203).
pub const DELAY: &str = "urn:xmpp:delay";
/// The disco feature of offline storage (XEP-0160 / XEP-0013's node name).
pub const OFFLINE: &str = "msgoffline";
/// Client State Indication (XEP-0352).
pub const CSI: &str = "urn:xmpp:csi:0";
/// User nickname (XEP-0172), which a room strips from relayed messages.
pub const NICK: &str = "http://jabber.org/protocol/nick";
/// Data forms (XEP-0004).
pub const DATA_FORMS: &str = "jabber:x:data";

// ---- MUC (XEP-0045) -----------------------------------------------------------------------

/// MUC.
pub const MUC: &str = "http://jabber.org/protocol/muc";
/// MUC user extension (status codes, items).
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// MUC owner extension (config forms, destroy).
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// MUC admin extension (affiliation and role changes).
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// FORM_TYPE of the room configuration form.
pub const MUC_ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
/// FORM_TYPE of the room information form (disco#info extension).
pub const MUC_ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";
/// The disco#info node for an account's reserved nick in a room (XEP-0045 §7.12).
pub const MUC_ROOMUSER_NODE: &str = "x-roomuser-item";
/// A room answers self-pings itself (XEP-0410 §3.3).
pub const MUC_SELF_PING: &str = "http://jabber.org/protocol/muc#self-ping-optimization";

// ---- MucSub -------------------------------------------------------------------------------

/// MucSub itself (subscribe, unsubscribe, subscriptions).
pub const MUCSUB: &str = "urn:xmpp:mucsub:0";
/// Prefix of every MucSub event node.
pub const MUCSUB_NODES_PREFIX: &str = "urn:xmpp:mucsub:nodes:";
/// Our sync hint extension (`<end/>` inside `<subscription/>`), also its disco feature.
pub const MUCSUB_SYNC: &str = "urn:xmpp:mucsub:sync:0";
/// Pubsub events, the envelope of every wrapped MucSub event.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";

// ---- archives (XEP-0313, XEP-0059, XEP-0359, XEP-0297) ------------------------------------

/// Message Archive Management v2.
pub const MAM: &str = "urn:xmpp:mam:2";
/// MAM extended (before-id / after-id / ids / metadata).
pub const MAM_EXTENDED: &str = "urn:xmpp:mam:2#extended";
/// `<archived/>` of the old MAM drafts: like `<stanza-id/>`, only the archive may add it.
pub const MAM_TMP: &str = "urn:xmpp:mam:tmp";
/// Result Set Management.
pub const RSM: &str = "http://jabber.org/protocol/rsm";
/// Unique and stable stanza ids.
pub const SID: &str = "urn:xmpp:sid:0";
/// Forwarded stanzas (MAM results).
pub const FORWARD: &str = "urn:xmpp:forward:0";

// ---- modern group chat (XEP-0421, 0308, 0424, 0425, 0444, 0461, 0359) -------------------

/// Occupant identifiers (XEP-0421): only the room may add one.
pub const OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
/// Last message correction (XEP-0308).
pub const MESSAGE_CORRECT: &str = "urn:xmpp:message-correct:0";
/// Message retraction (XEP-0424 v0.4+): `<retract/>`, the `<retracted/>` tombstone.
pub const RETRACT: &str = "urn:xmpp:message-retract:1";
/// The retraction of XEP-0424 v0.2/0.3, still inside old moderation requests.
pub const RETRACT_0: &str = "urn:xmpp:message-retract:0";
/// Moderated message retraction (XEP-0425 v0.3+).
pub const MODERATE: &str = "urn:xmpp:message-moderate:1";
/// Moderation of XEP-0425 v0.2 (inside `<apply-to/>` of [`FASTEN`]).
pub const MODERATE_0: &str = "urn:xmpp:message-moderate:0";
/// Message fastening (XEP-0422), the envelope of XEP-0425 v0.2.
pub const FASTEN: &str = "urn:xmpp:fasten:0";
/// Message reactions (XEP-0444).
pub const REACTIONS: &str = "urn:xmpp:reactions:0";
/// Message replies (XEP-0461).
pub const REPLY: &str = "urn:xmpp:reply:0";
/// Fallback indication (XEP-0428).
pub const FALLBACK: &str = "urn:xmpp:fallback:0";
/// The sender's own stable id (XEP-0359 `<origin-id/>`; same namespace as [`SID`]).
pub const ORIGIN_ID: &str = SID;
/// Message processing hints (XEP-0334): `<store/>` asks archives to keep a message
/// without a body (ejabberd 23.01 archives nothing else).
pub const HINTS: &str = "urn:xmpp:hints";

// ---- PEP (XEP-0163): displayed sync (XEP-0490) and bookmarks (XEP-0402) -------------------

/// Message displayed synchronization (XEP-0490), the PEP node and payload namespace.
pub const MDS: &str = "urn:xmpp:mds:displayed:0";
/// PEP native bookmarks (XEP-0402), the PEP node and `<conference/>` namespace.
pub const BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";
/// Pubsub owner use cases.
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// Pubsub errors.
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// PEP's disco feature: the account supports personal eventing (XEP-0163 §5).
pub const PEP_FEATURE: &str = "http://jabber.org/protocol/pubsub#publish";

// ---- push (XEP-0357) ----------------------------------------------------------------------

/// Push notifications: `<enable/>`, `<disable/>`, `<notification/>`.
pub const PUSH: &str = "urn:xmpp:push:0";
/// FORM_TYPE of the notification summary.
pub const PUSH_SUMMARY: &str = "urn:xmpp:push:summary";
/// Publish-subscribe (the publish an XMPP server sends its app server).
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// FORM_TYPE of publish-options.
pub const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// Our additional notification data: the room, the sender's nick and the event kind, which
/// the summary form has no fields for (XEP-0357 §5 allows additional elements).
pub const MUCSUB_PUSH: &str = "urn:xmpp:mucsub:push:0";
/// FORM_TYPE of the disco#info extension form (XEP-0128) that publishes the VAPID key.
pub const WEBPUSH_FORM: &str = "urn:xmpp:mucsub:push:webpush:0";

#[cfg(test)]
mod tests {
    use xmpp_parsers::ns as xp;

    /// The standard namespaces are spelled as xmpp-parsers spells them.
    #[test]
    fn agrees_with_xmpp_parsers() {
        for (ours, theirs) in [
            (super::CLIENT, xp::JABBER_CLIENT),
            (super::STANZAS_ERR, xp::XMPP_STANZAS),
            (super::STREAMS_ERR, xp::XMPP_STREAMS),
            (super::STREAM, xp::STREAM),
            (super::FRAMING, xp::WEBSOCKET),
            (super::TLS, xp::TLS),
            (super::SASL, xp::SASL),
            (super::BIND, xp::BIND),
            (super::SM, xp::SM),
            (super::SASL2, xp::SASL2),
            (super::BIND2, xp::BIND2),
            (super::FAST, xp::FAST),
            (super::DISCO_INFO, xp::DISCO_INFO),
            (super::DISCO_ITEMS, xp::DISCO_ITEMS),
            (super::PING, xp::PING),
            (super::ROSTER, xp::ROSTER),
            (super::REGISTER, xp::REGISTER),
            (super::REGISTER_FEATURE, xp::REGISTER_FEATURE),
            (super::DELAY, xp::DELAY),
            (super::CSI, xp::CSI),
            (super::DATA_FORMS, xp::DATA_FORMS),
            (super::OCCUPANT_ID, xp::OID),
            (super::MESSAGE_CORRECT, xp::MESSAGE_CORRECT),
            (super::REACTIONS, xp::REACTIONS),
            (super::MDS, xp::MDS),
            (super::BOOKMARKS2, xp::BOOKMARKS2),
            (super::PUBSUB_OWNER, xp::PUBSUB_OWNER),
            (super::PUBSUB_ERRORS, xp::PUBSUB_ERRORS),
            (super::MUC, xp::MUC),
            (super::MUC_USER, xp::MUC_USER),
            (super::MAM, xp::MAM),
            (super::RSM, xp::RSM),
            (super::SID, xp::SID),
            (super::FORWARD, xp::FORWARD),
            (super::PUSH, xp::PUSH),
            (super::PUBSUB, xp::PUBSUB),
            (super::PUBSUB_EVENT, xp::PUBSUB_EVENT),
        ] {
            assert_eq!(ours, theirs);
        }
    }
}
