//! The answer to an archive query: one result message per archived stanza, then the
//! `<fin/>` IQ result (elements from `mucsub_protocol::mam`), and the query form clients
//! may fetch.

use minidom::Element;
use mucsub_protocol::forms::{self, DataFormType, Field, FieldType};
use mucsub_protocol::mam::{Fin, MamResult};

use super::query::ArchiveQuery;
use crate::ns;
use crate::stanza::iq_result;
use crate::storage::{Item, Page};

/// One piece of a page's answer.
#[derive(Debug)]
pub enum Out {
    /// A result message already serialised, for the full JID `to`.
    Xml {
        to: String,
        xml: String,
    },
    El(Element),
}

/// The result messages and the final IQ for a page, all as elements (the tests compare
/// it with [`reply_out`]).
#[cfg(test)]
pub fn reply(iq: &Element, room_jid: &str, q: &ArchiveQuery, page: &Page) -> Vec<Element> {
    reply_with(iq, room_jid, q, page, false)
        .into_iter()
        .filter_map(|o| match o {
            Out::El(e) => Some(e),
            Out::Xml { .. } => None,
        })
        .collect()
}

/// [`reply`] with the result messages as text where the stored stanza allows: it goes in
/// verbatim instead of being parsed and written again, which was most of a page's cost.
pub fn reply_out(iq: &Element, room_jid: &str, q: &ArchiveQuery, page: &Page) -> Vec<Out> {
    reply_with(iq, room_jid, q, page, true)
}

/// A stored stanza that can be embedded as it is: serialised by this server (minidom
/// declares the namespace on the root), so it is a whole `<message>` in `jabber:client`.
/// Anything else takes the parsing path, which skips unreadable rows.
fn verbatim_ok(stanza: &str) -> bool {
    let head = stanza.split('>').next().unwrap_or("");
    stanza.starts_with("<message")
        && stanza.ends_with('>')
        && (head.contains(" xmlns=\"jabber:client\"") || head.contains(" xmlns='jabber:client'"))
}

fn reply_with(iq: &Element, room_jid: &str, q: &ArchiveQuery, page: &Page, text: bool) -> Vec<Out> {
    let requester = iq.attr("from").unwrap_or("").to_owned();
    let service = room_jid.split_once('@').map_or(room_jid, |(_, d)| d);
    let mut items: Vec<&Item> = page.items.iter().collect();
    if q.flip {
        items.reverse();
    }
    let mut out = Vec::with_capacity(items.len() + 1);
    for it in &items {
        let result = MamResult {
            to: requester.clone(),
            from: room_jid.to_owned(),
            queryid: q.queryid.clone(),
            id: it.id.to_string(),
            stamp_us: it.stamp_us,
            delay_from: Some(service.to_owned()),
        };
        if text && verbatim_ok(&it.stanza) {
            out.push(Out::Xml {
                to: requester.clone(),
                xml: result.xml(&it.stanza),
            });
            continue;
        }
        let Ok(stored) = it.stanza.parse::<Element>() else {
            tracing::warn!(
                room = room_jid,
                id = it.id,
                "unreadable archived stanza skipped"
            );
            continue;
        };
        out.push(Out::El(result.element(stored)));
    }
    // `first` and `last` as delivered (after a flip too).
    let fin = Fin {
        complete: page.complete,
        count: page.count.and_then(|n| u64::try_from(n).ok()),
        first: items.first().map(|i| i.id.to_string()),
        last: items.last().map(|i| i.id.to_string()),
    };
    out.push(Out::El(iq_result(iq, Some(fin.into()))));
    out
}

/// The form a client may fetch to learn the supported fields.
pub fn query_form() -> Element {
    let fields = [
        ("with", FieldType::JidSingle),
        ("start", FieldType::TextSingle),
        ("end", FieldType::TextSingle),
        ("before-id", FieldType::TextSingle),
        ("after-id", FieldType::TextSingle),
        ("ids", FieldType::TextMulti),
    ]
    .into_iter()
    .map(|(var, kind)| Field::new(var, kind))
    .collect();
    let form = forms::with_type(DataFormType::Form, ns::MAM, fields);
    Element::builder("query", ns::MAM)
        .append(forms::with_explicit_types(form))
        .build()
}
