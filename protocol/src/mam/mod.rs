//! MAM (XEP-0313, with the `#extended` fields) and RSM (XEP-0059), both directions: the
//! query the SDK sends and the server answers ([`MamQuery`], [`query`]), each archived
//! result ([`MamResult`] built by the archive, [`ArchivedStanza`] read by the SDK), the
//! end of a page ([`Fin`]) and the archive's bounds ([`Metadata`]).
//!
//! The types xmpp-parsers has for them are re-exported (`Query`, `Result_`, `SetQuery`…)
//! and the tests check that they read what this module writes. This module writes its own
//! because the SDK sends and reads these shapes on every page of a resync (xmpp-parsers'
//! generated code for them was a large part of the browser package), and because the
//! archive's stamps carry microseconds, which xmpp-parsers' XEP-0082 encoder drops.

mod fin;
mod query;
mod result;

pub use fin::{ArchiveBound, Fin, Metadata};
pub use query::MamQuery;
pub use result::{archived_stanza, take_archived_stanza, ArchivedStanza, MamResult};
pub use xmpp_parsers::mam::{MetadataQuery, MetadataResponse, Query, QueryId, Result_};
pub use xmpp_parsers::rsm::{SetQuery, SetResult};

use minidom::Element;

use crate::time::Timestamp;

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

/// A MAM page query, ready to go into an IQ (`Element::from`).
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery(pub Element);

impl From<PageQuery> for Element {
    fn from(q: PageQuery) -> Element {
        q.0
    }
}

/// Build `<query xmlns='urn:xmpp:mam:2' queryid=…>` for a page of at most `max` items: the
/// submitted MAM form (with `start` when paging by time) and the RSM set; the
/// [`MamQuery`] the archive reads out of it is the one `from` describes (see the tests).
pub fn query(queryid: &str, from: &PageFrom, max: usize) -> PageQuery {
    let max = max.to_string();
    let mut page = vec![("max", max.as_str())];
    let start = match from {
        PageFrom::After(id) => {
            page.push(("after", id));
            None
        }
        PageFrom::Start(t) => Some(t.to_xep0082()),
        PageFrom::Newest => {
            page.push(("before", ""));
            None
        }
        PageFrom::Oldest => None,
        PageFrom::Before(id) => {
            page.push(("before", id));
            None
        }
    };
    let start = start.as_deref();
    let field: [query::FormField; 1] = [("start", "text-single", start.as_slice())];
    let fields = if start.is_some() { &field[..] } else { &[] };
    PageQuery(query::query_element(Some(queryid), fields, &page, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns;

    #[test]
    fn builds_after_query() {
        let q: Element = query("q1", &PageFrom::After("42".into()), 50).into();
        // The same query xmpp-parsers reads.
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

    /// What the server parses out of each page query the SDK sends.
    #[test]
    fn the_archive_reads_every_page_query() {
        let t = Timestamp(1_700_000_000_123);
        for (from, check) in [
            (
                PageFrom::After("7".into()),
                MamQuery {
                    after: Some("7".into()),
                    ..MamQuery::default()
                },
            ),
            (
                PageFrom::Start(t),
                MamQuery {
                    start_us: Some(1_700_000_000_123_000),
                    ..MamQuery::default()
                },
            ),
            (
                PageFrom::Newest,
                MamQuery {
                    before: Some(String::new()),
                    ..MamQuery::default()
                },
            ),
            (PageFrom::Oldest, MamQuery::default()),
            (
                PageFrom::Before("9".into()),
                MamQuery {
                    before: Some("9".into()),
                    ..MamQuery::default()
                },
            ),
        ] {
            let el: Element = query("q", &from, 25).into();
            let expected = MamQuery {
                queryid: Some("q".into()),
                max: Some(25),
                ..check
            };
            assert_eq!(MamQuery::try_from(el).unwrap(), expected, "{from:?}");
        }
    }
}
