//! The archive's answers: pages (as storage returns them, see the storage conformance
//! suite for the queries themselves) turned into result messages and `<fin/>`.

use minidom::Element;

use super::query::{parse_query, ArchiveQuery};
use super::reply::{reply, reply_out, Out};
use crate::ns;
use crate::storage::archive::COUNT_CAP;
use crate::storage::{Item, Page};

fn q(xml: &str) -> ArchiveQuery {
    let el: Element = xml.parse().unwrap();
    parse_query(&el, "r@conference.localhost", 50).unwrap()
}

fn items(ids: &[i64]) -> Vec<Item> {
    ids.iter()
        .map(|&id| Item {
            id,
            stamp_us: id * 100_000,
            stanza: format!(
                "<message xmlns='jabber:client' type='groupchat'><body>{id}</body></message>"
            ),
        })
        .collect()
}

fn iq() -> Element {
    "<iq xmlns='jabber:client' type='set' id='1' from='a@localhost/x' to='r@conference.localhost'/>"
        .parse()
        .unwrap()
}

fn fin_set(page: &Page, query: &ArchiveQuery) -> Element {
    let out = reply(&iq(), "r@conference.localhost", query, page);
    let fin = out
        .last()
        .unwrap()
        .get_child("fin", ns::MAM)
        .unwrap()
        .clone();
    fin.get_child("set", ns::RSM).unwrap().clone()
}

#[test]
fn the_count_is_stated_unless_past_the_cap() {
    let filtered = q("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='after-id'><value>10</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query>");
    let capped = Page {
        items: items(&[20, 30]),
        count: None,
        complete: false,
    };
    assert!(fin_set(&capped, &filtered)
        .get_child("count", ns::RSM)
        .is_none());
    let all = q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query>");
    let counted = Page {
        count: Some(COUNT_CAP + 2),
        ..capped
    };
    let expected = (COUNT_CAP + 2).to_string();
    let set = fin_set(&counted, &all);
    assert_eq!(set.get_child("count", ns::RSM).unwrap().text(), expected);
    assert_eq!(set.get_child("first", ns::RSM).unwrap().text(), "20");
    assert_eq!(set.get_child("last", ns::RSM).unwrap().text(), "30");
}

#[test]
fn text_results_match_the_element_path() {
    // Stored the way the room stores it: minidom's serialisation of the relayed stanza.
    let relayed: Element = "<message xmlns='jabber:client' from='r@conference.localhost/a&amp;b' type='groupchat' id='x'><body>1 &lt; 2 &amp; 'q'</body></message>".parse().unwrap();
    let mut page_items = items(&[10, 20, 30]);
    for (id, stanza) in [
        (100, String::from(&relayed)),
        // Not declared in jabber:client: must not be embedded as it is.
        (
            110,
            "<message xmlns='jabber:server' type='groupchat'><body>s</body></message>".to_owned(),
        ),
        (120, "not xml at all".to_owned()),
    ] {
        page_items.push(Item {
            id,
            stamp_us: id,
            stanza,
        });
    }
    let page = Page {
        items: page_items,
        count: Some(6),
        complete: true,
    };
    let query = q("<query xmlns='urn:xmpp:mam:2' queryid='a&apos;&lt;'><flip-page/></query>");
    let iq: Element = "<iq xmlns='jabber:client' type='set' id='1' from='a@localhost/x&amp;y' to='r@conference.localhost'/>".parse().unwrap();
    let elements = reply(&iq, "r@conference.localhost", &query, &page);
    let mut texts = 0;
    let fast: Vec<Element> = reply_out(&iq, "r@conference.localhost", &query, &page)
        .into_iter()
        .map(|o| match o {
            Out::Xml { to, xml } => {
                assert_eq!(to, "a@localhost/x&y");
                texts += 1;
                xml.parse().expect("well-formed result")
            }
            Out::El(e) => e,
        })
        .collect();
    // Three plain rows and the minidom one as text; the other namespace through the
    // element path; the unreadable row skipped by both.
    assert_eq!(texts, 4);
    assert_eq!(fast.len(), 6);
    assert_eq!(fast, elements);
}

#[test]
fn flip_page_reverses_and_fin_reports_delivered_order() {
    let query = q("<query xmlns='urn:xmpp:mam:2' queryid='f'><flip-page/></query>");
    let p = Page {
        items: items(&[10, 20, 30]),
        count: Some(3),
        complete: true,
    };
    let out = reply(&iq(), "r@conference.localhost", &query, &p);
    let got: Vec<String> = out[..3]
        .iter()
        .map(|m| {
            m.get_child("result", ns::MAM)
                .unwrap()
                .attr("id")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(got, vec!["30", "20", "10"]);
    let fin = out[3].get_child("fin", ns::MAM).unwrap();
    assert_eq!(fin.attr("complete"), Some("true"));
    let set = fin.get_child("set", ns::RSM).unwrap();
    assert_eq!(set.get_child("first", ns::RSM).unwrap().text(), "30");
}

#[test]
fn unknown_ids_that_are_no_integers_are_item_not_found() {
    let el: Element = "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>zz</after></set></query>".parse().unwrap();
    assert_eq!(
        parse_query(&el, "r@x", 10).unwrap_err().condition,
        "item-not-found"
    );
}
