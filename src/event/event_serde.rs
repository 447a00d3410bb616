//! Reading a [`RoomEvent`] and a [`Change`] back from their stored forms, the way
//! `kind_serde.rs` reads an [`super::EventKind`]: the object's entries walked once
//! (`deserialize_map`) into the fields, each field checked once.
//!
//! serde's derive for the 15-field `RoomEvent` was, monomorphised for the browser's
//! deserializer, one of the largest functions of the package (15.6 KB, plus a 10.5 KB
//! `deserialize_option` it inlined): it carries a second path for events stored as
//! sequences, which nothing writes, and asks the JS object for every field by name. And
//! `Change`'s internally tagged derive buffers the object in serde's `Content` tree before
//! it can pick the variant (issue 24, package size). The inputs accepted are the derive's
//! for every stored object: unknown fields ignored, absent or `null` optional fields
//! `None`, a missing required field, a field given twice and an unknown tag refused.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, MapAccess, Visitor};

use super::kind_serde::{need, unit_variant};
use super::{Change, EventKind, Moderator, Reactions, ReplyTo, Retraction, RoomEvent, Source};
use crate::protocol::time::Timestamp;

/// `RoomEvent`'s field names, as its `Serialize` derive writes them.
#[derive(serde::Deserialize, Clone, Copy)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Room,
    Kind,
    StanzaId,
    OriginId,
    MessageId,
    ItemId,
    Nick,
    RealJid,
    Timestamp,
    Source,
    OccupantId,
    ReplyTo,
    Edited,
    Retracted,
    Reactions,
    #[serde(other)]
    Other,
}

/// The names of [`Key`], in its order (for the "duplicate field" error).
const NAMES: [&str; 15] = [
    "room",
    "kind",
    "stanza_id",
    "origin_id",
    "message_id",
    "item_id",
    "nick",
    "real_jid",
    "timestamp",
    "source",
    "occupant_id",
    "reply_to",
    "edited",
    "retracted",
    "reactions",
];

/// Every field as read so far; the required ones are checked at the end.
#[derive(Default)]
struct Fields {
    room: Option<String>,
    kind: Option<EventKind>,
    timestamp: Option<Timestamp>,
    source: Option<Source>,
    /// `stanza_id`, `origin_id`, `message_id`, `item_id`, `nick`, `real_jid`,
    /// `occupant_id`, in [`Key`]'s order (`Key::StanzaId as usize - 2` …).
    ids: [Option<String>; 7],
    reply_to: Option<ReplyTo>,
    edited: Vec<String>,
    retracted: Option<Retraction>,
    reactions: Reactions,
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = RoomEvent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a room event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RoomEvent, A::Error> {
        let mut f = Fields::default();
        let mut seen = 0u16;
        while let Some(key) = map.next_key::<Key>()? {
            if let Key::Other = key {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let bit = 1 << key as u16;
            if seen & bit != 0 {
                return Err(A::Error::duplicate_field(NAMES[key as usize]));
            }
            seen |= bit;
            match key {
                Key::Room => f.room = Some(map.next_value()?),
                Key::Kind => f.kind = Some(map.next_value()?),
                Key::Timestamp => f.timestamp = Some(map.next_value()?),
                Key::Source => f.source = Some(map.next_value()?),
                Key::StanzaId
                | Key::OriginId
                | Key::MessageId
                | Key::ItemId
                | Key::Nick
                | Key::RealJid => f.ids[key as usize - 2] = map.next_value()?,
                Key::OccupantId => f.ids[6] = map.next_value()?,
                Key::ReplyTo => f.reply_to = map.next_value()?,
                Key::Edited => f.edited = map.next_value()?,
                Key::Retracted => f.retracted = map.next_value()?,
                Key::Reactions => f.reactions = map.next_value()?,
                Key::Other => {}
            }
        }
        let [stanza_id, origin_id, message_id, item_id, nick, real_jid, occupant_id] = f.ids;
        Ok(RoomEvent {
            room: need(f.room, "room")?,
            kind: need(f.kind, "kind")?,
            stanza_id,
            origin_id,
            message_id,
            item_id,
            nick,
            real_jid,
            timestamp: need(f.timestamp, "timestamp")?,
            source: need(f.source, "source")?,
            occupant_id,
            reply_to: f.reply_to,
            edited: f.edited,
            retracted: f.retracted,
            reactions: f.reactions,
        })
    }
}

impl<'de> Deserialize<'de> for RoomEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

/// `Change`'s tag values.
#[derive(Clone, Copy)]
enum ChangeTag {
    Edit,
    Retract,
    React,
}

impl<'de> Deserialize<'de> for ChangeTag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const ALL: [ChangeTag; 3] = [ChangeTag::Edit, ChangeTag::Retract, ChangeTag::React];
        Ok(ALL[unit_variant(d, &["edit", "retract", "react"])?])
    }
}

/// Read by name like `Tag` and `ChangeTag` (`kind_serde::unit_variant`); written by the
/// derive, as `rename_all = "lowercase"` spells the names.
impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const ALL: [Source; 4] = [
            Source::Live,
            Source::Joined,
            Source::Offline,
            Source::Archive,
        ];
        Ok(ALL[unit_variant(d, &["live", "joined", "offline", "archive"])?])
    }
}

/// The field names of every `Change` variant (`Retract`'s are `Retraction`'s).
#[derive(serde::Deserialize, Clone, Copy)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ChangeKey {
    Change,
    Body,
    Emojis,
    Moderated,
    Reason,
    #[serde(other)]
    Other,
}

const CHANGE_NAMES: [&str; 5] = ["change", "body", "emojis", "moderated", "reason"];

struct ChangeVisitor;

impl<'de> Visitor<'de> for ChangeVisitor {
    type Value = Change;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message change")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Change, A::Error> {
        let mut tag: Option<ChangeTag> = None;
        let mut body: Option<String> = None;
        let mut emojis: Option<Vec<String>> = None;
        let mut moderated: Option<Moderator> = None;
        let mut reason: Option<String> = None;
        let mut seen = 0u8;
        while let Some(key) = map.next_key::<ChangeKey>()? {
            if let ChangeKey::Other = key {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let bit = 1 << key as u8;
            if seen & bit != 0 {
                return Err(A::Error::duplicate_field(CHANGE_NAMES[key as usize]));
            }
            seen |= bit;
            match key {
                ChangeKey::Change => tag = Some(map.next_value()?),
                ChangeKey::Body => body = Some(map.next_value()?),
                ChangeKey::Emojis => emojis = Some(map.next_value()?),
                ChangeKey::Moderated => moderated = map.next_value()?,
                ChangeKey::Reason => reason = map.next_value()?,
                ChangeKey::Other => {}
            }
        }
        Ok(match need(tag, "change")? {
            ChangeTag::Edit => Change::Edit {
                body: need(body, "body")?,
            },
            ChangeTag::Retract => Change::Retract(Retraction { moderated, reason }),
            ChangeTag::React => Change::React {
                emojis: need(emojis, "emojis")?,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ChangeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Change, EventKind, Moderator, ReplyTo, Retraction, RoomEvent, Source};
    use crate::protocol::time::Timestamp;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    /// An event with every field set, and one with only the required ones.
    fn events() -> Vec<RoomEvent> {
        let full = RoomEvent {
            room: "r@muc.example".into(),
            kind: EventKind::Message { body: "hi".into() },
            stanza_id: s("sid"),
            origin_id: s("oid"),
            message_id: s("mid"),
            item_id: s("item"),
            nick: s("nick"),
            real_jid: s("u@example"),
            timestamp: Timestamp(1_700_000_000_123),
            source: Source::Archive,
            occupant_id: s("occ"),
            reply_to: Some(ReplyTo {
                id: "sid-0".into(),
                to: s("r@muc.example/other"),
            }),
            edited: vec!["hello".into()],
            retracted: Some(Retraction {
                moderated: Some(Moderator {
                    by: "r@muc.example/mod".into(),
                    occupant_id: None,
                }),
                reason: s("spam"),
            }),
            reactions: [("👍".to_owned(), vec!["occ".to_owned()])].into(),
        };
        let bare = RoomEvent {
            room: "r@muc.example".into(),
            kind: EventKind::Change {
                target: "sid".into(),
                change: Change::Retract(Retraction::default()),
            },
            stanza_id: None,
            origin_id: None,
            message_id: None,
            item_id: None,
            nick: None,
            real_jid: None,
            timestamp: Timestamp(-5),
            source: Source::Live,
            occupant_id: None,
            reply_to: None,
            edited: Vec::new(),
            retracted: None,
            reactions: Default::default(),
        };
        vec![full, bare]
    }

    #[test]
    fn an_event_reads_back_what_it_wrote() {
        for ev in events() {
            let text = serde_json::to_string(&ev).unwrap();
            assert_eq!(
                serde_json::from_str::<RoomEvent>(&text).unwrap(),
                ev,
                "{text}"
            );
        }
    }

    #[test]
    fn every_change_reads_back_what_it_wrote() {
        for c in [
            Change::Edit { body: "b".into() },
            Change::React {
                emojis: vec!["a".into(), "b".into()],
            },
            Change::React { emojis: vec![] },
            Change::Retract(Retraction::default()),
            Change::Retract(Retraction {
                moderated: Some(Moderator {
                    by: "r@muc.example/mod".into(),
                    occupant_id: s("o"),
                }),
                reason: s("why"),
            }),
        ] {
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), c, "{text}");
        }
    }

    #[test]
    fn optional_fields_may_be_null_absent_or_unknown_fields_present() {
        let text = r#"{"x":[1],"source":"live","room":"r","timestamp":3,"nick":null,
            "kind":{"type":"subscribers","subscribed":true},"stanza_id":null,"edited":[]}"#;
        let ev: RoomEvent = serde_json::from_str(text).unwrap();
        assert_eq!(ev.room, "r");
        assert_eq!(ev.timestamp, Timestamp(3));
        assert_eq!(ev.nick, None);
        assert_eq!(ev.stanza_id, None);
        assert!(ev.edited.is_empty() && ev.reactions.is_empty());
        let c: Change =
            serde_json::from_str(r#"{"reason":null,"change":"retract","y":0}"#).unwrap();
        assert_eq!(c, Change::Retract(Retraction::default()));
    }

    #[test]
    fn a_missing_field_a_repeated_one_or_an_unknown_change_is_refused() {
        let ev = r#""kind":{"type":"system"},"timestamp":1,"source":"live""#;
        for (text, why) in [
            (format!("{{{ev}}}"), "missing field `room`"),
            (
                r#"{"room":"r","timestamp":1,"source":"live"}"#.to_owned(),
                "missing field `kind`",
            ),
            (
                r#"{"room":"r","kind":{"type":"system"},"source":"live"}"#.to_owned(),
                "missing field `timestamp`",
            ),
            (
                r#"{"room":"r","kind":{"type":"system"},"timestamp":1}"#.to_owned(),
                "missing field `source`",
            ),
            (
                format!(r#"{{"room":"r",{ev},"nick":"a","nick":"b"}}"#),
                "duplicate field `nick`",
            ),
            (
                format!(r#"{{"room":"r",{ev},"source":"live"}}"#),
                "duplicate field `source`",
            ),
            (
                format!(r#"{{"room":"r",{ev},"edited":"x"}}"#),
                "invalid type",
            ),
            (
                r#"{"room":"r","kind":{"type":"system"},"timestamp":1,"source":"mam"}"#.to_owned(),
                "unknown variant `mam`",
            ),
        ] {
            let e = serde_json::from_str::<RoomEvent>(&text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        for (text, why) in [
            (r#"{"body":"x"}"#, "missing field `change`"),
            (r#"{"change":"edit"}"#, "missing field `body`"),
            (r#"{"change":"react"}"#, "missing field `emojis`"),
            (r#"{"change":"pin"}"#, "unknown variant `pin`"),
            (
                r#"{"change":"edit","body":"a","body":"b"}"#,
                "duplicate field `body`",
            ),
            (
                r#"{"change":"edit","change":"react","emojis":[]}"#,
                "duplicate field `change`",
            ),
        ] {
            let e = serde_json::from_str::<Change>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    /// The field-less enums read by name (`kind_serde::unit_variant`) take and refuse
    /// what serde's derive took and refused (an unknown name with the same error), except
    /// the derive's `{"<name>": null}` form of a unit variant, which nothing writes.
    #[test]
    fn unit_variants_read_as_the_derive_read_them() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Derived {
            Live,
            Joined,
            Offline,
            Archive,
        }
        let texts = [
            r#""live""#,
            r#""joined""#,
            r#""offline""#,
            r#""archive""#,
            r#""Live""#,
            r#""mam""#,
            r#""""#,
            "1",
            "null",
            "true",
            "[]",
            r#"["live"]"#,
            "{}",
        ];
        for t in texts {
            let ours = serde_json::from_str::<Source>(t).map_err(|e| e.to_string());
            let derived = serde_json::from_str::<Derived>(t).map_err(|e| e.to_string());
            match (&ours, &derived) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{t}"),
                // An unknown name gets the derive's message; another type of value, which
                // serde_json's enum path reports as "expected value", a clearer one.
                (Err(a), Err(b)) if t.starts_with('"') => assert_eq!(a, b, "{t}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{t}: {ours:?} / {derived:?}"),
            }
        }
        assert!(serde_json::from_str::<Source>(r#"{"live":null}"#).is_err());
        assert!(serde_json::from_str::<Derived>(r#"{"live":null}"#).is_ok());
    }
}
