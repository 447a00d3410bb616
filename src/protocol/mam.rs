//! MAM (XEP-0313) and RSM (XEP-0059) as the resync engine uses them: xmpp-parsers has the
//! types, this module only adds the query shapes the SDK needs.

use minidom::Element;
pub use xmpp_parsers::mam::{Fin, MetadataQuery, MetadataResponse, Query, QueryId, Result_};
pub use xmpp_parsers::rsm::{SetQuery, SetResult};

use super::ns;
use super::time::Timestamp;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field};

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

/// Build `<query xmlns='urn:xmpp:mam:2' queryid=…>` for a page of at most `max` items.
pub fn query(queryid: &str, from: &PageFrom, max: usize) -> Query {
    let mut fields = Vec::new();
    let mut set = SetQuery {
        max: Some(max),
        after: None,
        before: None,
        index: None,
    };
    match from {
        PageFrom::After(id) => set.after = Some(id.clone()),
        PageFrom::Start(t) => fields.push(Field::text_single("start", &t.to_xep0082())),
        PageFrom::Newest => set.before = Some(String::new()),
        PageFrom::Oldest => {}
        PageFrom::Before(id) => set.before = Some(id.clone()),
    }
    Query {
        queryid: Some(QueryId(queryid.to_owned())),
        node: None,
        form: Some(DataForm::new(DataFormType::Submit, ns::MAM, fields)),
        set: Some(set),
        flip_page: false,
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
    let result = message.get_child("result", ns::MAM)?;
    let r = Result_::try_from(result.clone()).ok()?;
    Some(ArchivedStanza {
        queryid: r.queryid.map(|q| q.0),
        id: r.id,
        stamp: r
            .forwarded
            .delay
            .as_ref()
            .map(|d| Timestamp::from(&d.stamp)),
        message: Element::from(r.forwarded.message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_after_query() {
        let q: Element = query("q1", &PageFrom::After("42".into()), 50).into();
        let set = q.get_child("set", ns::RSM).unwrap();
        assert_eq!(set.get_child("after", ns::RSM).unwrap().text(), "42");
        assert_eq!(set.get_child("max", ns::RSM).unwrap().text(), "50");
        assert_eq!(q.attr("queryid"), Some("q1"));
    }

    #[test]
    fn builds_start_and_newest_queries() {
        let q: Element = query("q", &PageFrom::Start(Timestamp(0)), 10).into();
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
    }
}
