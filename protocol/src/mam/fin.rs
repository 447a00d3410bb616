//! The end of an archive page (`<fin/>` with its RSM `<set/>`) and the archive's metadata
//! (`<metadata/>`, `#extended`), as the archive sends them and the SDK reads them.
//!
//! Written over minidom: the SDK reads `<fin/>` after every page (kept small, and lenient:
//! an unreadable `<set/>` never fails a page), and xmpp-parsers' XEP-0082 encoder drops the
//! fraction of a second the metadata's timestamps carry.

use minidom::Element;

use crate::ns;
use crate::time::{format_micros, parse_micros};
use crate::xml::{builder, expect, ncname, text_element};
use crate::ParseError;

/// `<fin xmlns='urn:xmpp:mam:2' complete=…><set>count, first, last</set></fin>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fin {
    /// The archive has nothing further in the query's direction.
    pub complete: bool,
    /// RSM `<count/>`: how many items the filter matches, when the archive counted them.
    pub count: Option<u64>,
    /// RSM `<first/>`: id of the page's first item, as delivered.
    pub first: Option<String>,
    /// RSM `<last/>`: id of the page's last item, as delivered.
    pub last: Option<String>,
}

/// A `<count/>`: decimal digits. (Read here rather than with `str::parse`, which the
/// browser package would otherwise carry for this one number.)
fn count(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let digit = u64::from(char::from(b).to_digit(10)?);
        n.checked_mul(10)?.checked_add(digit)
    })
}

impl TryFrom<&Element> for Fin {
    type Error = ParseError;

    fn try_from(e: &Element) -> Result<Self, ParseError> {
        expect(e, "fin", ns::MAM)?;
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
        let set = e.get_child("set", ns::RSM);
        let text = |name: &str| {
            set.and_then(|s| s.get_child(name, ns::RSM))
                .map(|c| c.text())
        };
        Ok(Fin {
            complete,
            count: text("count").as_deref().and_then(count),
            first: text("first"),
            last: text("last"),
        })
    }
}

crate::xml::try_from_owned!(Fin);

impl From<Fin> for Element {
    fn from(f: Fin) -> Element {
        let count = f.count.map(|n| n.to_string());
        let set = builder("set", ns::RSM).append_all(
            [("count", count), ("first", f.first), ("last", f.last)]
                .into_iter()
                .filter_map(|(name, v)| v.map(|v| text_element(name, ns::RSM, v))),
        );
        let mut fin = builder("fin", ns::MAM);
        if f.complete {
            fin = fin.attr(ncname("complete"), "true");
        }
        fin.append(set.build()).build()
    }
}

/// One end of an archive: an id and its time (microseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveBound {
    /// Archive id.
    pub id: String,
    /// Its archive time.
    pub stamp_us: i64,
}

/// `<metadata xmlns='urn:xmpp:mam:2'><start id timestamp/><end id timestamp/></metadata>`:
/// the oldest and newest archived items, both absent for an empty archive. (The request is
/// an empty `<metadata/>`: `xmpp_mam::MetadataQuery`.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The oldest item.
    pub start: Option<ArchiveBound>,
    /// The newest item.
    pub end: Option<ArchiveBound>,
}

fn bound(parent: &Element, name: &'static str) -> Result<Option<ArchiveBound>, ParseError> {
    let Some(e) = parent.get_child(name, ns::MAM) else {
        return Ok(None);
    };
    let id = e.attr("id").ok_or(ParseError::MissingAttribute {
        element: name,
        attribute: "id",
    })?;
    let t = e.attr("timestamp").ok_or(ParseError::MissingAttribute {
        element: name,
        attribute: "timestamp",
    })?;
    let stamp_us = parse_micros(t).ok_or_else(|| ParseError::BadAttribute {
        element: name,
        attribute: "timestamp",
        reason: format!("not an XEP-0082 date-time: {t:?}"),
    })?;
    Ok(Some(ArchiveBound {
        id: id.to_owned(),
        stamp_us,
    }))
}

impl TryFrom<&Element> for Metadata {
    type Error = ParseError;
    fn try_from(e: &Element) -> Result<Self, ParseError> {
        expect(e, "metadata", ns::MAM)?;
        Ok(Metadata {
            start: bound(e, "start")?,
            end: bound(e, "end")?,
        })
    }
}

impl From<Metadata> for Element {
    fn from(m: Metadata) -> Element {
        let bounds = [("start", m.start), ("end", m.end)]
            .into_iter()
            .filter_map(|(name, b)| {
                let b = b?;
                Some(
                    builder(name, ns::MAM)
                        .attr(ncname("id"), b.id)
                        .attr(ncname("timestamp"), format_micros(b.stamp_us))
                        .build(),
                )
            });
        builder("metadata", ns::MAM).append_all(bounds).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fin() {
        let fin = |text: &str| Fin::try_from(text.parse::<Element>().unwrap());
        let ejabberd = r#"<fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm"><count>2</count><first>1</first><last>2</last></set></fin>"#;
        let read = fin(ejabberd).unwrap();
        assert_eq!(
            read,
            Fin {
                complete: true,
                count: Some(2),
                first: Some("1".into()),
                last: Some("2".into()),
            }
        );
        let strict = xmpp_parsers::mam::Fin::try_from(ejabberd.parse::<Element>().unwrap());
        assert!(strict.unwrap().complete);
        assert_eq!(
            fin(
                r#"<fin xmlns="urn:xmpp:mam:2"><set xmlns="http://jabber.org/protocol/rsm"/></fin>"#
            ),
            Ok(Fin::default())
        );
        // An unreadable count never fails a page.
        for odd in ["many", "", "-1", "99999999999999999999999"] {
            let xml = format!("<fin xmlns='urn:xmpp:mam:2' complete='1'><set xmlns='http://jabber.org/protocol/rsm'><count>{odd}</count></set></fin>");
            assert_eq!(fin(&xml).unwrap().count, None, "{odd}");
        }
        assert!(fin(r#"<fin xmlns="urn:xmpp:mam:2" complete="maybe"/>"#).is_err());
        assert!(fin(r#"<fin xmlns="urn:xmpp:mam:1" complete="true"/>"#).is_err());
    }

    #[test]
    fn fin_round_trips_and_xmpp_parsers_agrees() {
        for f in [
            Fin::default(),
            Fin {
                complete: true,
                count: Some(10_002),
                first: Some("30".into()),
                last: Some("10".into()),
            },
        ] {
            let el = Element::from(f.clone());
            assert_eq!(Fin::try_from(&el), Ok(f.clone()));
            let strict = xmpp_parsers::mam::Fin::try_from(el).unwrap();
            assert_eq!(strict.complete, f.complete);
            assert_eq!(strict.set.last, f.last);
        }
        let quiet = Element::from(Fin::default());
        assert_eq!(quiet.attr("complete"), None);
    }

    #[test]
    fn metadata_round_trips() {
        let m = Metadata {
            start: Some(ArchiveBound {
                id: "1".into(),
                stamp_us: 1_795_460_995_021_531,
            }),
            end: Some(ArchiveBound {
                id: "9".into(),
                stamp_us: 1_795_460_999_000_001,
            }),
        };
        let el = Element::from(m.clone());
        assert_eq!(Metadata::try_from(&el), Ok(m));
        let strict = xmpp_parsers::mam::MetadataResponse::try_from(el).unwrap();
        assert_eq!(strict.end.unwrap().id, "9");
        let empty = Element::from(Metadata::default());
        assert!(empty.children().next().is_none());
        assert_eq!(Metadata::try_from(&empty), Ok(Metadata::default()));
        let bad: Element =
            "<metadata xmlns='urn:xmpp:mam:2'><end id='1' timestamp='later'/></metadata>"
                .parse()
                .unwrap();
        assert!(matches!(
            Metadata::try_from(&bad),
            Err(ParseError::BadAttribute {
                element: "end",
                attribute: "timestamp",
                ..
            })
        ));
    }
}
