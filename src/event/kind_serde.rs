//! Reading an [`EventKind`] back from its stored form, `{"type": "<variant>", <fields>}`.
//!
//! serde's derive for an internally tagged enum buffers the whole object in its private
//! `Content` tree before it can pick the variant. Monomorphised for the browser's
//! deserializer, that was the largest function of the package (28 KB). Here the object's
//! entries are read once (`deserialize_map`: serde-wasm-bindgen walks the entries present
//! rather than asking for every field a struct could have) into one flat record of every
//! variant's fields, and the variant is picked from its tag: the same accepted inputs
//! (unknown fields ignored; a missing required field, a field given twice and an unknown
//! tag refused), a fraction of the code.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, MapAccess, Visitor};

use super::{Change, EventKind};

/// The variant names, as `#[serde(rename_all = "lowercase")]` spells them.
#[derive(Clone, Copy)]
enum Tag {
    Message,
    Subject,
    Presence,
    Participants,
    Affiliation,
    Config,
    Subscribers,
    System,
    Change,
}

/// [`Tag`]'s names, in its order.
const TAGS: [&str; 9] = [
    "message",
    "subject",
    "presence",
    "participants",
    "affiliation",
    "config",
    "subscribers",
    "system",
    "change",
];

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use Tag::*;
        const ALL: [Tag; 9] = [
            Message,
            Subject,
            Presence,
            Participants,
            Affiliation,
            Config,
            Subscribers,
            System,
            Change,
        ];
        Ok(ALL[unit_variant(d, &TAGS)?])
    }
}

/// The index in `names` of the unit variant named by the string `d` holds, read as serde's
/// derive reads a unit variant (the same "unknown variant" and "invalid type" errors), for
/// every field-less enum of the stored events ([`Tag`], `ChangeTag`, [`super::Source`]).
/// One visitor for all of them: the derive's `visit_enum` and variant access were a copy
/// per enum (issue 24, package size). The derive's other form of a unit variant, an object
/// `{"<name>": null}`, is refused: nothing writes it (serde writes the name alone).
pub(super) fn unit_variant<'de, D: Deserializer<'de>>(
    d: D,
    names: &'static [&'static str],
) -> Result<usize, D::Error> {
    d.deserialize_str(UnitVariant(names))
}

struct UnitVariant(&'static [&'static str]);

impl<'de> Visitor<'de> for UnitVariant {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("variant identifier")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|n| *n == v)
            .ok_or_else(|| E::unknown_variant(v, self.0))
    }
}

/// The field names any variant has, in the order of [`NAMES`].
#[derive(serde::Deserialize, Clone, Copy)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Key {
    Type,
    Body,
    Subject,
    Available,
    Joined,
    Subscribed,
    Destroyed,
    Role,
    Affiliation,
    Reason,
    Actor,
    Codes,
    Target,
    Change,
    #[serde(other)]
    Other,
}

const NAMES: [&str; 14] = [
    "type",
    "body",
    "subject",
    "available",
    "joined",
    "subscribed",
    "destroyed",
    "role",
    "affiliation",
    "reason",
    "actor",
    "codes",
    "target",
    "change",
];

/// Every field any variant has; each variant takes its own and ignores the rest.
#[derive(Default)]
struct Fields {
    tag: Option<Tag>,
    body: Option<String>,
    subject: Option<String>,
    available: Option<bool>,
    joined: Option<bool>,
    subscribed: Option<bool>,
    destroyed: Option<bool>,
    role: Option<String>,
    affiliation: Option<String>,
    reason: Option<String>,
    actor: Option<String>,
    codes: Option<Vec<u16>>,
    target: Option<String>,
    change: Option<Change>,
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a room event kind")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
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
                Key::Type => f.tag = Some(map.next_value()?),
                Key::Body => f.body = map.next_value()?,
                Key::Subject => f.subject = map.next_value()?,
                Key::Available => f.available = map.next_value()?,
                Key::Joined => f.joined = map.next_value()?,
                Key::Subscribed => f.subscribed = map.next_value()?,
                Key::Destroyed => f.destroyed = map.next_value()?,
                Key::Role => f.role = map.next_value()?,
                Key::Affiliation => f.affiliation = map.next_value()?,
                Key::Reason => f.reason = map.next_value()?,
                Key::Actor => f.actor = map.next_value()?,
                Key::Codes => f.codes = map.next_value()?,
                Key::Target => f.target = map.next_value()?,
                Key::Change => f.change = map.next_value()?,
                Key::Other => {}
            }
        }
        Ok(f)
    }
}

/// A field the variant requires, or serde's own "missing field" error.
pub(super) fn need<T, E: Error>(v: Option<T>, name: &'static str) -> Result<T, E> {
    v.ok_or_else(|| E::missing_field(name))
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = d.deserialize_map(FieldsVisitor)?;
        Ok(match need(f.tag, "type")? {
            Tag::Message => EventKind::Message {
                body: need(f.body, "body")?,
            },
            Tag::Subject => EventKind::Subject {
                subject: need(f.subject, "subject")?,
            },
            Tag::Presence => EventKind::Presence {
                available: need(f.available, "available")?,
                role: f.role,
                affiliation: f.affiliation,
                codes: need(f.codes, "codes")?,
            },
            Tag::Participants => EventKind::Participants {
                joined: need(f.joined, "joined")?,
                role: f.role,
                affiliation: f.affiliation,
            },
            Tag::Affiliation => EventKind::Affiliation {
                affiliation: f.affiliation,
                role: f.role,
                codes: need(f.codes, "codes")?,
                reason: f.reason,
                actor: f.actor,
            },
            Tag::Config => EventKind::Config {
                codes: need(f.codes, "codes")?,
                destroyed: need(f.destroyed, "destroyed")?,
                reason: f.reason,
            },
            Tag::Subscribers => EventKind::Subscribers {
                subscribed: need(f.subscribed, "subscribed")?,
            },
            Tag::System => EventKind::System { body: f.body },
            Tag::Change => EventKind::Change {
                target: need(f.target, "target")?,
                change: need(f.change, "change")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Change, EventKind};

    fn s(v: Option<&str>) -> Option<String> {
        v.map(str::to_owned)
    }

    /// One value of every variant, optional fields both set and unset.
    fn every_kind() -> Vec<EventKind> {
        vec![
            EventKind::Message {
                body: "hi \"there\"".into(),
            },
            EventKind::Subject {
                subject: String::new(),
            },
            EventKind::Presence {
                available: false,
                role: s(Some("none")),
                affiliation: None,
                codes: vec![110, 307],
            },
            EventKind::Participants {
                joined: true,
                role: None,
                affiliation: s(Some("member")),
            },
            EventKind::Affiliation {
                affiliation: s(Some("outcast")),
                role: None,
                codes: vec![301],
                reason: s(Some("spam")),
                actor: None,
            },
            EventKind::Config {
                codes: vec![],
                destroyed: true,
                reason: None,
            },
            EventKind::Subscribers { subscribed: false },
            EventKind::System { body: None },
            EventKind::System {
                body: s(Some("notice")),
            },
            EventKind::Change {
                target: "sid-1".into(),
                change: Change::Edit {
                    body: "fixed".into(),
                },
            },
            EventKind::Change {
                target: "sid-2".into(),
                change: Change::React {
                    emojis: vec!["👍".into()],
                },
            },
            EventKind::Change {
                target: "sid-3".into(),
                change: Change::Retract(Default::default()),
            },
        ]
    }

    #[test]
    fn every_variant_reads_back_what_it_wrote() {
        for k in every_kind() {
            let text = serde_json::to_string(&k).unwrap();
            assert_eq!(
                serde_json::from_str::<EventKind>(&text).unwrap(),
                k,
                "{text}"
            );
        }
    }

    #[test]
    fn the_stored_form_is_read_whatever_the_field_order_and_extra_fields() {
        let k: EventKind =
            serde_json::from_str(r#"{"codes":[104],"x":1,"destroyed":false,"type":"config"}"#)
                .unwrap();
        assert_eq!(
            k,
            EventKind::Config {
                codes: vec![104],
                destroyed: false,
                reason: None
            }
        );
        // Optional fields may be null or absent.
        let k: EventKind =
            serde_json::from_str(r#"{"type":"participants","joined":false,"role":null}"#).unwrap();
        assert_eq!(
            k,
            EventKind::Participants {
                joined: false,
                role: None,
                affiliation: None
            }
        );
    }

    #[test]
    fn a_missing_required_field_or_an_unknown_type_is_refused() {
        for (text, why) in [
            (r#"{"type":"message"}"#, "missing field `body`"),
            (
                r#"{"type":"presence","available":true}"#,
                "missing field `codes`",
            ),
            (
                r#"{"type":"config","codes":[]}"#,
                "missing field `destroyed`",
            ),
            (r#"{"type":"subscribers"}"#, "missing field `subscribed`"),
            (r#"{"body":"x"}"#, "missing field `type`"),
            (
                r#"{"type":"reaction","body":"x"}"#,
                "unknown variant `reaction`",
            ),
            (r#"{"type":"message","body":7}"#, "invalid type"),
            (
                r#"{"type":"message","body":"a","body":"b"}"#,
                "duplicate field `body`",
            ),
            (
                r#"{"type":"system","type":"message","body":"b"}"#,
                "duplicate field `type`",
            ),
        ] {
            let e = serde_json::from_str::<EventKind>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
