//! MAM (XEP-0313) and RSM (XEP-0059) as the resync engine uses them: xmpp-parsers has the
//! types; the two hot shapes (the page query the SDK sends, the result it reads) are written
//! by hand over minidom, because xmpp-parsers' generated serialisers and parsers for them
//! (query, data form, message) were a large part of the browser package.

use minidom::Element;
pub use xmpp_parsers::mam::{MetadataQuery, MetadataResponse, Query, QueryId, Result_};
pub use xmpp_parsers::rsm::{SetQuery, SetResult};

use super::ns;
use super::time::Timestamp;
use super::xml::{builder, expect, with_attr};
use super::ParseError;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageFrom {
    /// Everything after this archive id (RSM `after`).
    After(String),
    /// Everything at or after this time (form field `start`), oldest first.
    Start(Timestamp),
    /// The newest page (RSM empty `before`).
    Newest,
    /// The oldest page (no filter at all).
    Oldest,
    /// The page just older than this archive id (RSM `before`).
    Before(String),
}

fn text(name: &'static str, ns: &'static str, value: &str) -> Element {
    builder(name, ns).append(value.to_owned()).build()
}

fn form_field(var: &'static str, kind: &'static str, value: &str) -> Element {
    let b = with_attr(builder("field", ns::DATA_FORMS), "var", Some(var));
    with_attr(b, "type", Some(kind))
        .append(text("value", ns::DATA_FORMS, value))
        .build()
}

/// A MAM page query, ready to go into an IQ (`Element::from`).
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery(pub Element);

impl From<PageQuery> for Element {
    fn from(q: PageQuery) -> Element {
        q.0
    }
}

/// Build `<query xmlns='urn:xmpp:mam:2' queryid=…>` for a page of at most `max` items: the
/// submitted MAM form (with `start` when paging by time) and the RSM set.
pub fn query(queryid: &str, from: &PageFrom, max: usize) -> PageQuery {
    let mut form = with_attr(builder("x", ns::DATA_FORMS), "type", Some("submit"))
        .append(form_field("FORM_TYPE", "hidden", ns::MAM));
    let mut set = builder("set", ns::RSM).append(text("max", ns::RSM, &max.to_string()));
    match from {
        PageFrom::After(id) => set = set.append(text("after", ns::RSM, id)),
        PageFrom::Start(t) => {
            form = form.append(form_field("start", "text-single", &t.to_xep0082()))
        }
        PageFrom::Newest => set = set.append(builder("before", ns::RSM).build()),
        PageFrom::Oldest => {}
        PageFrom::Before(id) => set = set.append(text("before", ns::RSM, id)),
    }
    PageQuery(
        with_attr(builder("query", ns::MAM), "queryid", Some(queryid))
            .append(form.build())
            .append(set.build())
            .build(),
    )
}

/// `<fin xmlns='urn:xmpp:mam:2' complete=…>`, the end of a page. The SDK only needs
/// `complete` (its RSM `<set/>` is not read: pages are followed by the last result's id).
/// The full type is `xmpp_mam::Fin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fin {
    /// The archive has nothing further in the query's direction.
    pub complete: bool,
}

impl TryFrom<Element> for Fin {
    type Error = ParseError;

    fn try_from(e: Element) -> Result<Self, ParseError> {
        expect(&e, "fin", ns::MAM)?;
        let complete = match e.attr("complete") {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ParseError::BadAttribute {
                    element: "fin",
                    attribute: "complete",
                    reason: format!("not a boolean: {other:?}"),
                })
            }
        };
        Ok(Fin { complete })
    }
}

/// One archived stanza out of a `<result/>`, with the archive's id and time.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedStanza {
    /// The queryid it answers.
    pub queryid: Option<String>,
    /// The archive id (the room's stanza-id).
    pub id: String,
    /// The archive time (`<delay/>` in the forward), when present.
    pub stamp: Option<Timestamp>,
    /// The archived message.
    pub message: Element,
}

/// Pull a MAM result out of a `<message/>`; `None` when it carries none or it is malformed.
pub fn archived_stanza(message: &Element) -> Option<ArchivedStanza> {
    take_archived_stanza(&mut message.clone())
}

/// [`archived_stanza`] that moves the archived message out of `message` instead of copying
/// it (one copy of a whole stanza less per result during a resync). `None` when it carries
/// no result or the result is malformed; `message` is then left as it was.
pub fn take_archived_stanza(message: &mut Element) -> Option<ArchivedStanza> {
    let (queryid, id, stamp) = {
        let result = message.get_child("result", ns::MAM)?;
        let id = result.attr("id").filter(|id| !id.is_empty())?;
        let forwarded = result.get_child("forwarded", ns::FORWARD)?;
        if !forwarded.has_child("message", ns::JABBER_CLIENT) {
            return None;
        }
        // A delay whose stamp does not parse makes the result malformed, as a missing one
        // does not: the caller then falls back to the message's own delay or the arrival
        // time.
        let stamp = match forwarded.get_child("delay", ns::DELAY) {
            Some(d) => Some(Timestamp::parse(d.attr("stamp")?)?),
            None => None,
        };
        (
            result.attr("queryid").map(str::to_owned),
            id.to_owned(),
            stamp,
        )
    };
    let inner = message
        .get_child_mut("result", ns::MAM)
        .and_then(|r| r.get_child_mut("forwarded", ns::FORWARD))
        .and_then(|f| f.remove_child("message", ns::JABBER_CLIENT))?;
    Some(ArchivedStanza {
        queryid,
        id,
        stamp,
        message: inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_after_query() {
        let q: Element = query("q1", &PageFrom::After("42".into()), 50).into();
        // The same query xmpp-parsers reads on the server side.
        let parsed = Query::try_from(q.clone()).unwrap();
        assert_eq!(parsed.set.unwrap().after.as_deref(), Some("42"));
        let set = q.get_child("set", ns::RSM).unwrap();
        assert_eq!(set.get_child("after", ns::RSM).unwrap().text(), "42");
        assert_eq!(set.get_child("max", ns::RSM).unwrap().text(), "50");
        assert_eq!(q.attr("queryid"), Some("q1"));
    }

    #[test]
    fn builds_start_and_newest_queries() {
        let q: Element = query("q", &PageFrom::Start(Timestamp(0)), 10).into();
        assert!(Query::try_from(q.clone()).unwrap().form.is_some());
        let x = q.get_child("x", ns::DATA_FORMS).unwrap();
        assert!(x.children().any(|f| f.attr("var") == Some("start")
            && f.children().next().unwrap().text() == "1970-01-01T00:00:00.000Z"));
        let q: Element = query("q", &PageFrom::Newest, 10).into();
        let set = q.get_child("set", ns::RSM).unwrap();
        assert_eq!(set.get_child("before", ns::RSM).unwrap().text(), "");
    }

    #[test]
    fn reads_ejabberd_result() {
        let m: Element = r#"<message xmlns="jabber:client" to="bob@localhost/b1" from="coven2@conference.localhost"><result xmlns="urn:xmpp:mam:2" id="1795460995021531" queryid="f1"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" xml:lang="en" from="coven2@conference.localhost/alice" type="groupchat" id="m1"><archived xmlns="urn:xmpp:mam:tmp" by="coven2@conference.localhost" id="1795460995021531"/><stanza-id xmlns="urn:xmpp:sid:0" by="coven2@conference.localhost" id="1795460995021531"/><body>Hello subscribers</body></message><delay xmlns="urn:xmpp:delay" from="conference.localhost" stamp="2026-11-23T19:09:55.021531Z"/></forwarded></result></message>"#.parse().unwrap();
        let a = archived_stanza(&m).unwrap();
        assert_eq!(a.id, "1795460995021531");
        assert_eq!(a.queryid.as_deref(), Some("f1"));
        assert_eq!(a.stamp, Timestamp::parse("2026-11-23T19:09:55.021531Z"));
        assert_eq!(a.message.attr("id"), Some("m1"));
        // What xmpp-parsers' strict parser reads out of the same result.
        let r = Result_::try_from(m.get_child("result", ns::MAM).unwrap().clone()).unwrap();
        assert_eq!(r.id, a.id);
        assert_eq!(
            r.forwarded.delay.map(|d| Timestamp::from(&d.stamp)),
            a.stamp
        );
    }

    #[test]
    fn reads_fin() {
        let fin = |text: &str| Fin::try_from(text.parse::<Element>().unwrap());
        let ejabberd = r#"<fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm"><count>2</count><first>1</first><last>2</last></set></fin>"#;
        assert_eq!(fin(ejabberd), Ok(Fin { complete: true }));
        let strict = xmpp_parsers::mam::Fin::try_from(ejabberd.parse::<Element>().unwrap());
        assert!(strict.unwrap().complete);
        assert_eq!(
            fin(
                r#"<fin xmlns="urn:xmpp:mam:2"><set xmlns="http://jabber.org/protocol/rsm"/></fin>"#
            ),
            Ok(Fin { complete: false })
        );
        assert!(fin(r#"<fin xmlns="urn:xmpp:mam:2" complete="maybe"/>"#).is_err());
        assert!(fin(r#"<fin xmlns="urn:xmpp:mam:1" complete="true"/>"#).is_err());
    }

    #[test]
    fn malformed_results_are_none() {
        for bad in [
            r#"<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" queryid="q"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"/></forwarded></result></message>"#,
            r#"<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" id="1"/></message>"#,
            r#"<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" id="1"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="yesterday"/><message xmlns="jabber:client"/></forwarded></result></message>"#,
        ] {
            let m: Element = bad.parse().unwrap();
            assert_eq!(archived_stanza(&m), None, "{bad}");
        }
    }
}
