//! The parts of a groupchat message that modern clients add (protocol.md X13): the
//! room's occupant-id, a reply's target, and the change a correction, retraction,
//! moderation or reaction makes to another message. One reader for every route (live,
//! wrapped, offline, MAM), called from the message parser.

use minidom::Element;

use super::change::{Change, Moderator, ReplyTo, Retraction};
use super::EventError;
use crate::protocol::retract::{Retract, Retracted};
use crate::protocol::{ns, ParseError};

/// The room's occupant-id of the sender. Only the room adds one (it strips what clients
/// send), so the first is the room's; a malformed one is treated as absent.
pub(super) fn occupant_id(m: &Element) -> Option<String> {
    let elem = m.get_child("occupant-id", ns::OCCUPANT_ID)?;
    // Read by hand the way xmpp-parsers' `OccupantId` reads it (other attributes and
    // children ignored, text other than XML white space refused): its conversion cloned
    // the element and checked every attribute name against Unicode tables, about a tenth
    // of what storing a live event cost in the browser benchmark (issue 24).
    if !blank(elem) {
        return None;
    }
    elem.attr("id").map(str::to_owned)
}

/// Whether `elem`'s own text is XML white space only: what xmpp-parsers' generated
/// (non-pedantic) parsers allow in an element without a text field.
fn blank(elem: &Element) -> bool {
    let white = |t: &str| t.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    elem.texts().all(white)
}

/// The `id` of a `<replace/>` (XEP-0308) or `<reactions/>` (XEP-0444), read by hand the
/// way xmpp-parsers' non-pedantic `Replace` and `Reactions` read it: other attributes and
/// unknown children ignored, text other than white space or a missing `id` refused. Their
/// generated parsers and serialisers were the last users of xso in the browser package
/// (issue 24, package size).
fn change_id(elem: &Element, child: &'static str) -> Result<String, EventError> {
    if !blank(elem) {
        return Err(invalid(child, "unexpected text"));
    }
    match elem.attr("id") {
        Some(id) => Ok(id.to_owned()),
        None => Err(invalid(child, "missing attribute 'id'")),
    }
}

/// The message a reply answers (XEP-0461 `<reply to=… id=…/>`); one without `id` names
/// nothing and is ignored.
pub(super) fn reply_to(m: &Element) -> Option<ReplyTo> {
    let r = m.get_child("reply", ns::REPLY)?;
    Some(ReplyTo {
        id: r.attr("id")?.to_owned(),
        to: r.attr("to").map(str::to_owned),
    })
}

/// The body without the quoted part a reply carries for old clients (XEP-0428 fallback
/// `for='urn:xmpp:reply:0'`, character offsets). Out-of-range offsets leave it whole.
pub(super) fn strip_reply_fallback(m: &Element, body: String) -> String {
    let range = m
        .children()
        .filter(|f| f.is("fallback", ns::FALLBACK) && f.attr("for") == Some(ns::REPLY))
        .find_map(|f| f.get_child("body", ns::FALLBACK))
        .and_then(|b| {
            let start: usize = b.attr("start")?.parse().ok()?;
            let end: usize = b.attr("end")?.parse().ok()?;
            Some((start, end))
        });
    match range {
        Some((start, end)) if start <= end && end <= body.chars().count() => body
            .chars()
            .take(start)
            .chain(body.chars().skip(end))
            .collect(),
        _ => body,
    }
}

/// What this message does to another one, if anything: `(target id, change)`. A
/// retraction wins over anything else in the stanza (a moderation announcement also
/// carries the v0.2 `<apply-to/>`, which adds nothing); a correction needs a body.
pub(super) fn change(
    m: &Element,
    body: Option<&str>,
) -> Result<Option<(String, Change)>, EventError> {
    if let Some(r) = m.get_child("retract", ns::RETRACT) {
        let r = Retract::try_from(r)?;
        let retraction = Retraction {
            moderated: r.moderated.map(|m| Moderator {
                by: m.by,
                occupant_id: m.occupant_id,
            }),
            reason: r.reason,
        };
        return Ok(Some((r.id, Change::Retract(retraction))));
    }
    if let Some(r) = m.get_child("reactions", ns::REACTIONS) {
        let id = change_id(r, "reactions")?;
        // Each `<reaction/>`'s text is one emoji (its attributes and children ignored).
        let emojis = r
            .children()
            .filter(|c| c.is("reaction", ns::REACTIONS))
            .map(Element::text)
            .collect();
        return Ok(Some((id, Change::React { emojis })));
    }
    if let (Some(r), Some(body)) = (m.get_child("replace", ns::MESSAGE_CORRECT), body) {
        let id = change_id(r, "replace")?;
        let body = body.to_owned();
        return Ok(Some((id, Change::Edit { body })));
    }
    Ok(None)
}

/// The tombstone an archive keeps in place of a retracted or moderated message.
pub(super) fn tombstone(m: &Element) -> Result<Option<Retraction>, EventError> {
    let Some(t) = m.get_child("retracted", ns::RETRACT) else {
        return Ok(None);
    };
    let t = Retracted::try_from(t)?;
    Ok(Some(Retraction {
        moderated: t.moderated.map(|m| Moderator {
            by: m.by,
            occupant_id: m.occupant_id,
        }),
        reason: t.reason,
    }))
}

fn invalid(child: &'static str, e: impl std::fmt::Display) -> EventError {
    EventError::Parse(ParseError::BadChild {
        element: "message",
        child,
        reason: e.to_string(),
    })
}
