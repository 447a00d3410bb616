//! An archive query as a room's archive runs it: the request
//! (`mucsub_protocol::mam::MamQuery`) with its ids read as archive ids, `with` resolved
//! against the room (an occupant's nick or an account) and the page size capped.

use minidom::Element;
use mucsub_protocol::mam::MamQuery;

use crate::stanza::{ErrorType, Refusal};

/// Largest `ids` field accepted: each id is looked up, so the list is bounded.
pub const MAX_IDS: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    pub queryid: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// `with` an occupant JID (`room/nick`): messages sent under that nick.
    pub with_nick: Option<String>,
    /// `with` a user JID: messages sent by that account.
    pub with_sender: Option<String>,
    pub before_id: Option<i64>,
    pub after_id: Option<i64>,
    pub ids: Option<Vec<i64>>,
    pub max: usize,
    pub after: Option<i64>,
    /// `Some(None)`: an empty `<before/>`, the newest page.
    pub before: Option<Option<i64>>,
    pub flip: bool,
}

pub(crate) fn not_found(text: impl Into<String>) -> Refusal {
    Refusal::new(ErrorType::Cancel, "item-not-found", text)
}

/// Archive ids are integers: anything else names no item.
fn parse_id(s: &str) -> Result<i64, Refusal> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| not_found(format!("Unknown archive id '{s}'")))
}

fn parse_ids(v: Option<String>) -> Result<Option<i64>, Refusal> {
    v.as_deref().map(parse_id).transpose()
}

impl ArchiveQuery {
    /// The query `req` asks of the archive of `room_jid`; `cap` bounds the page size.
    pub fn from_request(req: MamQuery, room_jid: &str, cap: usize) -> Result<Self, Refusal> {
        if req.index.is_some() {
            return Err(Refusal::new(
                ErrorType::Cancel,
                "feature-not-implemented",
                "RSM <index/> is not supported; page with <after/> and <before/>",
            ));
        }
        let mut out = ArchiveQuery {
            queryid: req.queryid,
            start: req.start_us,
            end: req.end_us,
            before_id: parse_ids(req.before_id)?,
            after_id: parse_ids(req.after_id)?,
            max: req.max.map_or(cap, |m| m.min(cap)),
            after: parse_ids(req.after)?,
            flip: req.flip_page,
            ..ArchiveQuery::default()
        };
        if let Some(with) = req.with {
            match with.split_once('/') {
                Some((bare, nick)) if bare == room_jid => out.with_nick = Some(nick.to_owned()),
                _ => match jid::Jid::new(&with) {
                    Ok(j) if j.to_bare().as_str() == room_jid => {}
                    Ok(j) => out.with_sender = Some(j.to_bare().to_string()),
                    Err(_) => return Err(Refusal::bad_request("Malformed 'with'")),
                },
            }
        }
        if let Some(ids) = req.ids {
            if ids.len() > MAX_IDS {
                return Err(Refusal::new(
                    ErrorType::Modify,
                    "policy-violation",
                    format!("At most {MAX_IDS} ids per query"),
                ));
            }
            out.ids = Some(ids.iter().map(|v| parse_id(v)).collect::<Result<_, _>>()?);
        }
        if let Some(b) = req.before {
            out.before = Some(if b.trim().is_empty() {
                None
            } else {
                Some(parse_id(&b)?)
            });
        }
        Ok(out)
    }
}

/// Parses `<query xmlns='urn:xmpp:mam:2'>` for the archive of `room_jid`; `cap` bounds the
/// page size. A query that does not parse is a `bad-request` naming what is wrong.
pub fn parse_query(q: &Element, room_jid: &str, cap: usize) -> Result<ArchiveQuery, Refusal> {
    let req = MamQuery::try_from(q).map_err(|e| Refusal::bad_request(e.to_string()))?;
    ArchiveQuery::from_request(req, room_jid, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "r@conference.localhost";

    fn parse(xml: &str) -> Result<ArchiveQuery, Refusal> {
        parse_query(&xml.parse::<Element>().unwrap(), ROOM, 50)
    }

    fn form(fields: &str) -> Result<ArchiveQuery, Refusal> {
        parse(&format!(
            "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>{fields}</x></query>"
        ))
    }

    #[test]
    fn with_names_an_occupant_or_an_account() {
        let q = form("<field var='with'><value>r@conference.localhost/even</value></field>");
        assert_eq!(q.unwrap().with_nick.as_deref(), Some("even"));
        let q = form("<field var='with'><value>bob@localhost/phone</value></field>");
        assert_eq!(q.unwrap().with_sender.as_deref(), Some("bob@localhost"));
        let q = form("<field var='with'><value>r@conference.localhost</value></field>");
        assert_eq!(
            q.unwrap(),
            ArchiveQuery {
                max: 50,
                ..ArchiveQuery::default()
            }
        );
        let q = form("<field var='with'><value>@@</value></field>");
        assert_eq!(q.unwrap_err().condition, "bad-request");
    }

    #[test]
    fn ids_are_archive_ids_and_bounded() {
        let e = parse(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>\
             <after>zz</after></set></query>",
        );
        assert_eq!(e.unwrap_err().condition, "item-not-found");
        let many: String = (0..=MAX_IDS)
            .map(|i| format!("<value>{i}</value>"))
            .collect();
        let e = form(&format!("<field var='ids'>{many}</field>"));
        assert_eq!(e.unwrap_err().condition, "policy-violation");
        let q = form("<field var='ids'><value> 30 </value><value>10</value></field>").unwrap();
        assert_eq!(q.ids, Some(vec![30, 10]));
    }

    #[test]
    fn page_size_is_capped_and_index_refused() {
        let q = parse(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>\
             <max>500</max><before/></set></query>",
        )
        .unwrap();
        assert_eq!((q.max, q.before), (50, Some(None)));
        let e = parse(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>\
             <index>3</index></set></query>",
        );
        assert_eq!(e.unwrap_err().condition, "feature-not-implemented");
        let e = parse(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>\
             <max>lots</max></set></query>",
        );
        assert_eq!(e.unwrap_err().condition, "bad-request");
        let e = form("<field var='colour'><value>red</value></field>").unwrap_err();
        assert!(e.text.contains("colour"), "{}", e.text);
    }
}
