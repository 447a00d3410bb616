//! `<query xmlns='urn:xmpp:mam:2'/>`: the archive query the SDK sends and the server
//! answers, with the MAM filter form (`start`, `end`, `with` and the `#extended` fields
//! `before-id`, `after-id`, `ids`) and the RSM page (`max`, `after`, `before`, `index`).
//!
//! Parsing reads the form with `xmpp_parsers::data_forms` and the page with
//! `xmpp_parsers::rsm::SetQuery`. Building is written over minidom: the browser sends this
//! element for every page of a resync, and xmpp-parsers' generated serialisers for it were
//! a large part of the browser package.

use minidom::Element;
use xmpp_parsers::rsm::SetQuery;

use crate::forms;
use crate::ns;
use crate::time::{format_micros, parse_micros, Timestamp};
use crate::xml::{builder, expect, with_attr};
use crate::ParseError;

/// A parsed or to-be-sent archive query. Ids are the archive's own (opaque here); times
/// are microseconds since the epoch, the archive's precision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MamQuery {
    /// Echoed in every result.
    pub queryid: Option<String>,
    /// Form field `start`: at or after this time.
    pub start_us: Option<i64>,
    /// Form field `end`: at or before this time.
    pub end_us: Option<i64>,
    /// Form field `with`, as sent: the archive decides whether it names an occupant
    /// (`room@service/nick`) or an account.
    pub with: Option<String>,
    /// `#extended` `before-id`: strictly older than this id.
    pub before_id: Option<String>,
    /// `#extended` `after-id`: strictly newer than this id.
    pub after_id: Option<String>,
    /// `#extended` `ids`: exactly these ids (present even when empty).
    pub ids: Option<Vec<String>>,
    /// RSM `<max/>`.
    pub max: Option<usize>,
    /// RSM `<after/>`: the page after this id.
    pub after: Option<String>,
    /// RSM `<before/>`: the page before this id; `Some("")` (an empty `<before/>`) asks
    /// for the newest page.
    pub before: Option<String>,
    /// RSM `<index/>` (which archives may refuse).
    pub index: Option<usize>,
    /// `<flip-page/>`: the page in reverse order.
    pub flip_page: bool,
}

fn bad_field(var: &str, reason: impl Into<String>) -> ParseError {
    ParseError::BadField {
        element: "query",
        var: var.to_owned(),
        reason: reason.into(),
    }
}

fn stamp(var: &str, value: &str) -> Result<i64, ParseError> {
    parse_micros(value)
        .ok_or_else(|| bad_field(var, format!("not an XEP-0082 date-time: {value:?}")))
}

impl MamQuery {
    fn read_form(&mut self, elem: &Element) -> Result<(), ParseError> {
        let Some(form) = forms::child(elem, "query")? else {
            return Ok(());
        };
        if let Some(t) = form.form_type().filter(|t| *t != ns::MAM) {
            return Err(bad_field(
                "FORM_TYPE",
                format!("unsupported form type {t:?}"),
            ));
        }
        for f in forms::fields(&form) {
            let var = f.var.as_deref().unwrap_or("");
            let first = f.values.first().map(String::as_str).unwrap_or("");
            // An empty field is no filter (clients send blank forms back filled in part).
            if first.is_empty() && var != "ids" {
                continue;
            }
            match var {
                "start" => self.start_us = Some(stamp(var, first)?),
                "end" => self.end_us = Some(stamp(var, first)?),
                "with" => self.with = Some(first.to_owned()),
                "before-id" => self.before_id = Some(first.to_owned()),
                "after-id" => self.after_id = Some(first.to_owned()),
                "ids" => self.ids = Some(f.values.clone()),
                other => return Err(bad_field(other, "unknown field")),
            }
        }
        Ok(())
    }

    fn read_set(&mut self, elem: &Element) -> Result<(), ParseError> {
        let Some(set) = elem.get_child("set", ns::RSM) else {
            return Ok(());
        };
        let set = SetQuery::try_from(set.clone()).map_err(|e| ParseError::BadChild {
            element: "query",
            child: "set",
            reason: e.to_string(),
        })?;
        self.max = set.max;
        self.after = set.after;
        self.before = set.before;
        self.index = set.index;
        Ok(())
    }
}

impl TryFrom<&Element> for MamQuery {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "query", ns::MAM)?;
        let mut q = MamQuery {
            queryid: elem.attr("queryid").map(str::to_owned),
            flip_page: elem.has_child("flip-page", ns::MAM),
            ..MamQuery::default()
        };
        q.read_form(elem)?;
        q.read_set(elem)?;
        Ok(q)
    }
}

crate::xml::try_from_owned!(MamQuery);

fn text(name: &'static str, ns: &'static str, value: &str) -> Element {
    builder(name, ns).append(value.to_owned()).build()
}

/// A form field: `var`, its type, its values.
pub(super) type FormField<'a> = (&'static str, &'static str, &'a [&'a str]);

/// The one builder of `<query/>`: the submitted form (its FORM_TYPE, then `fields`), the
/// RSM page (`(element, value)` in RSM's order, no `<set/>` when empty) and
/// `<flip-page/>`. [`MamQuery`] builds through it, and so does the SDK's page query
/// (`mam::query`) without going through a whole [`MamQuery`]: that keeps the code of the
/// fields the browser never sends out of the browser package.
pub(super) fn query_element(
    queryid: Option<&str>,
    fields: &[FormField],
    page: &[(&'static str, &str)],
    flip_page: bool,
) -> Element {
    let form_type: FormField = ("FORM_TYPE", "hidden", &[ns::MAM]);
    let fields = std::iter::once(&form_type)
        .chain(fields)
        .map(|(var, kind, values)| {
            let b = with_attr(builder("field", ns::DATA_FORMS), "var", Some(*var));
            with_attr(b, "type", Some(*kind))
                .append_all(values.iter().map(|v| text("value", ns::DATA_FORMS, v)))
                .build()
        });
    let form = with_attr(builder("x", ns::DATA_FORMS), "type", Some("submit")).append_all(fields);
    let mut b = with_attr(builder("query", ns::MAM), "queryid", queryid).append(form.build());
    if !page.is_empty() {
        let set = page.iter().map(|(name, v)| text(name, ns::RSM, v));
        b = b.append(builder("set", ns::RSM).append_all(set).build());
    }
    if flip_page {
        b = b.append(builder("flip-page", ns::MAM).build());
    }
    b.build()
}

/// Whole milliseconds as the SDK always wrote them (`.mmmZ`), microseconds otherwise.
fn xep0082(us: i64) -> String {
    if us % 1000 == 0 {
        Timestamp(us / 1000).to_xep0082()
    } else {
        format_micros(us)
    }
}

impl From<MamQuery> for Element {
    fn from(q: MamQuery) -> Element {
        let start = q.start_us.map(xep0082);
        let end = q.end_us.map(xep0082);
        let singles = [
            ("start", "text-single", start.as_deref()),
            ("end", "text-single", end.as_deref()),
            ("with", "jid-single", q.with.as_deref()),
            ("before-id", "text-single", q.before_id.as_deref()),
            ("after-id", "text-single", q.after_id.as_deref()),
        ];
        let mut fields: Vec<FormField> = singles
            .iter()
            .filter(|(_, _, v)| v.is_some())
            .map(|(var, kind, v)| (*var, *kind, v.as_slice()))
            .collect();
        let ids: Vec<&str> = q.ids.iter().flatten().map(String::as_str).collect();
        if q.ids.is_some() {
            fields.push(("ids", "text-multi", &ids));
        }
        let max = q.max.map(|n| n.to_string());
        let index = q.index.map(|n| n.to_string());
        let page: Vec<(&'static str, &str)> = [
            ("max", &max),
            ("after", &q.after),
            ("before", &q.before),
            ("index", &index),
        ]
        .into_iter()
        .filter_map(|(name, v)| Some((name, v.as_deref()?)))
        .collect();
        query_element(q.queryid.as_deref(), &fields, &page, q.flip_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<MamQuery, ParseError> {
        MamQuery::try_from(xml.parse::<Element>().unwrap())
    }

    #[test]
    fn round_trips_every_field() {
        let q = MamQuery {
            queryid: Some("q1".into()),
            start_us: Some(1_795_460_995_021_531),
            end_us: Some(1_795_460_996_000_000),
            with: Some("r@conference.localhost/nick".into()),
            before_id: Some("9".into()),
            after_id: Some("2".into()),
            ids: Some(vec!["3".into(), "4".into()]),
            max: Some(20),
            after: Some("5".into()),
            before: None,
            index: Some(0),
            flip_page: true,
        };
        let el = Element::from(q.clone());
        assert_eq!(MamQuery::try_from(&el).unwrap(), q);
        // xmpp-parsers reads it as well.
        let strict = xmpp_parsers::mam::Query::try_from(el).unwrap();
        assert!(strict.flip_page && strict.form.is_some());
        let newest = MamQuery {
            before: Some(String::new()),
            ..MamQuery::default()
        };
        assert_eq!(
            MamQuery::try_from(Element::from(newest.clone())).unwrap(),
            newest
        );
        let empty = MamQuery::default();
        assert_eq!(
            MamQuery::try_from(Element::from(empty.clone())).unwrap(),
            empty
        );
    }

    #[test]
    fn blank_fields_are_no_filter_but_empty_ids_count() {
        let q = parse(
            "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>\
             <field var='start'><value/></field><field var='with'/>\
             <field var='ids'/></x></query>",
        )
        .unwrap();
        assert_eq!((q.start_us, q.with, q.ids), (None, None, Some(vec![])));
    }

    #[test]
    fn bad_fields_are_named() {
        let form = |fields: &str| {
            parse(&format!(
                "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>{fields}</x></query>"
            ))
        };
        for (fields, var) in [
            (
                "<field var='start'><value>yesterday</value></field>",
                "start",
            ),
            ("<field var='end'><value>soon</value></field>", "end"),
            ("<field var='colour'><value>red</value></field>", "colour"),
            (
                "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:1</value></field>",
                "FORM_TYPE",
            ),
        ] {
            match form(fields) {
                Err(ParseError::BadField { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{fields}: {other:?}"),
            }
        }
        let bad_max = parse(
            "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>\
             <max>lots</max></set></query>",
        );
        assert!(matches!(
            bad_max,
            Err(ParseError::BadChild { child: "set", .. })
        ));
        assert!(matches!(
            parse("<query xmlns='urn:xmpp:mam:1'/>"),
            Err(ParseError::WrongElement { .. })
        ));
    }

    #[test]
    fn whole_milliseconds_keep_the_short_form() {
        let q = MamQuery {
            start_us: Some(0),
            ..MamQuery::default()
        };
        let el = Element::from(q);
        let x = el.get_child("x", ns::DATA_FORMS).unwrap();
        let start = x
            .children()
            .find(|f| f.attr("var") == Some("start"))
            .unwrap();
        assert_eq!(
            start.children().next().unwrap().text(),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
