//! The archive end to end: queries parsed, run on SQLite and answered.

use minidom::Element;
use rusqlite::Connection;

use super::super::store::{archive_batch, test_conn, ArchivedMsg};
use super::archive::{execute, Page, Sql, COUNT_CAP};
use super::query::{parse_query, ArchiveQuery};
use super::reply::{reply, reply_out, Out};
use crate::muc::ids::stamp;
use crate::ns;

fn fill(conn: &mut Connection, n: i64) {
    let msgs: Vec<ArchivedMsg> = (1..=n)
        .map(|i| ArchivedMsg {
            id: i * 10,
            room: "r".into(),
            stamp_us: i * 1_000_000,
            nick: if i % 2 == 0 {
                "even".into()
            } else {
                "odd".into()
            },
            sender: "a@localhost".into(),
            stanza: format!(
                "<message xmlns='jabber:client' type='groupchat'><body>{i}</body></message>"
            ),
        })
        .collect();
    archive_batch(conn, &msgs).unwrap();
}

fn q(xml: &str) -> ArchiveQuery {
    let el: Element = xml.parse().unwrap();
    parse_query(&el, "r@conference.localhost", 50).unwrap()
}

fn ids(p: &Page) -> Vec<i64> {
    p.items.iter().map(|i| i.id).collect()
}

#[test]
fn forward_and_backward_paging() {
    let mut c = test_conn();
    fill(&mut c, 5);
    let first = execute(&c, "r", &q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query>")).unwrap().unwrap();
    assert_eq!(
        (ids(&first), first.complete, first.count),
        (vec![10, 20], false, Some(5))
    );
    let last = execute(&c, "r", &q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>40</after></set></query>")).unwrap().unwrap();
    assert_eq!((ids(&last), last.complete), (vec![50], true));
    let newest = execute(&c, "r", &q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query>")).unwrap().unwrap();
    assert_eq!((ids(&newest), newest.complete), (vec![40, 50], false));
    let oldest = execute(&c, "r", &q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>5</max><before>30</before></set></query>")).unwrap().unwrap();
    assert_eq!((ids(&oldest), oldest.complete), (vec![10, 20], true));
}

#[test]
fn form_filters() {
    let mut c = test_conn();
    fill(&mut c, 6);
    let form = |fields: &str| {
        q(&format!("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>{fields}</x></query>"))
    };
    let p = execute(
        &c,
        "r",
        &form("<field var='with'><value>r@conference.localhost/even</value></field>"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(ids(&p), vec![20, 40, 60]);
    let p = execute(&c, "r", &form("<field var='after-id'><value>20</value></field><field var='before-id'><value>50</value></field>")).unwrap().unwrap();
    assert_eq!(ids(&p), vec![30, 40]);
    let p = execute(
        &c,
        "r",
        &form("<field var='ids'><value>30</value><value>10</value></field>"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(ids(&p), vec![10, 30]);
    let p = execute(&c, "r", &form(&format!("<field var='start'><value>{}</value></field><field var='end'><value>{}</value></field>", stamp(2_000_000), stamp(3_000_000)))).unwrap().unwrap();
    assert_eq!(ids(&p), vec![20, 30]);
}

#[test]
fn unknown_ids_are_item_not_found() {
    let mut c = test_conn();
    fill(&mut c, 2);
    let e = execute(&c, "r", &q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>15</after></set></query>")).unwrap().unwrap_err();
    assert_eq!(e.condition, "item-not-found");
    let el: Element = "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>zz</after></set></query>".parse().unwrap();
    assert_eq!(
        parse_query(&el, "r@x", 10).unwrap_err().condition,
        "item-not-found"
    );
}

#[test]
fn whole_room_count_follows_inserts_and_destroy() {
    use super::super::store::{apply, StoreOp};
    let mut c = test_conn();
    fill(&mut c, 5);
    let all = q("<query xmlns='urn:xmpp:mam:2'/>");
    assert_eq!(execute(&c, "r", &all).unwrap().unwrap().count, Some(5));
    apply(
        &mut c,
        &[StoreOp::Archive(ArchivedMsg {
            id: 1000,
            room: "r".into(),
            stamp_us: 1000,
            nick: "n".into(),
            sender: "a@localhost".into(),
            stanza: "<message xmlns='jabber:client'/>".into(),
        })],
    )
    .unwrap();
    assert_eq!(execute(&c, "r", &all).unwrap().unwrap().count, Some(6));
    assert_eq!(execute(&c, "other", &all).unwrap().unwrap().count, Some(0));
    apply(&mut c, &[StoreOp::DestroyRoom { room: "r".into() }]).unwrap();
    let p = execute(&c, "r", &all).unwrap().unwrap();
    assert_eq!((p.count, p.items.len()), (Some(0), 0));
}

#[test]
fn migration_counts_an_existing_archive() {
    // A database archived under schema version 1 gets its counters from the migration.
    let mut c = Connection::open_in_memory().unwrap();
    c.execute_batch(
        "CREATE TABLE schema_versions(component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    )
    .unwrap();
    let v1 = &super::super::store::MIGRATIONS[..1];
    crate::storage::migrate(&mut c, super::super::store::COMPONENT, v1).unwrap();
    for i in 1..=3 {
        c.execute(
            "INSERT INTO muc_archive(id, room, stamp_us, nick, sender, stanza)
             VALUES (?1, 'r', ?1, 'n', 's', '<message/>')",
            [i],
        )
        .unwrap();
    }
    let all = super::super::store::MIGRATIONS;
    crate::storage::migrate(&mut c, super::super::store::COMPONENT, all).unwrap();
    let p = execute(&c, "r", &q("<query xmlns='urn:xmpp:mam:2'/>"))
        .unwrap()
        .unwrap();
    assert_eq!(p.count, Some(3));
}

#[test]
fn filtered_count_is_left_out_past_the_cap() {
    let mut c = test_conn();
    fill(&mut c, COUNT_CAP + 2);
    let iq: Element = "<iq xmlns='jabber:client' type='set' id='1' from='a@localhost/x' to='r@conference.localhost'/>".parse().unwrap();
    let filtered = q("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='after-id'><value>10</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query>");
    let p = execute(&c, "r", &filtered).unwrap().unwrap();
    assert_eq!((ids(&p), p.count), (vec![20, 30], None));
    let fin_set = |page: &Page, query: &ArchiveQuery| {
        let out = reply(&iq, "r@conference.localhost", query, page);
        let fin = out
            .last()
            .unwrap()
            .get_child("fin", ns::MAM)
            .unwrap()
            .clone();
        fin.get_child("set", ns::RSM).unwrap().clone()
    };
    assert!(fin_set(&p, &filtered).get_child("count", ns::RSM).is_none());
    let all = q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query>");
    let p = execute(&c, "r", &all).unwrap().unwrap();
    assert_eq!(p.count, Some(COUNT_CAP + 2));
    let set = fin_set(&p, &all);
    let expected = (COUNT_CAP + 2).to_string();
    assert_eq!(set.get_child("count", ns::RSM).unwrap().text(), expected);
}

#[test]
fn every_query_shape_searches_the_room_index() {
    let mut c = test_conn();
    fill(&mut c, 50);
    let form = |fields: &str, rsm: &str| {
        q(&format!("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>{fields}</x><set xmlns='http://jabber.org/protocol/rsm'>{rsm}</set></query>"))
    };
    let shapes = [
        form("", "<max>10</max>"),
        form("", "<before/>"),
        form("", "<before>300</before>"),
        form("", "<after>300</after>"),
        form(
            "<field var='after-id'><value>100</value></field>",
            "<before/>",
        ),
        form(
            "<field var='before-id'><value>400</value></field>",
            "<after>100</after>",
        ),
        form(
            "<field var='with'><value>r@conference.localhost/even</value></field>",
            "",
        ),
        form(
            &format!(
                "<field var='start'><value>{}</value></field>",
                stamp(3_000_000)
            ),
            "<before/>",
        ),
        form(
            "<field var='ids'><value>30</value><value>10</value></field>",
            "",
        ),
    ];
    for shape in &shapes {
        let sql = Sql::build("r", shape);
        let count = format!("SELECT COUNT(*) FROM muc_archive WHERE {}", sql.filter);
        for (text, args) in [(&sql.page, &sql.page_args), (&count, &sql.args)] {
            let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
            let plan: Vec<String> = st
                .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("muc_archive_by_room") || plan.contains("INTEGER PRIMARY KEY"),
                "{text}: {plan}"
            );
            assert!(!plan.contains("SCAN muc_archive"), "{text}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{text}: {plan}");
        }
    }
}

#[test]
fn text_results_match_the_element_path() {
    let mut c = test_conn();
    fill(&mut c, 3);
    // Stored the way the room stores it: minidom's serialisation of the relayed stanza.
    let relayed: Element = "<message xmlns='jabber:client' from='r@conference.localhost/a&amp;b' type='groupchat' id='x'><body>1 &lt; 2 &amp; 'q'</body></message>".parse().unwrap();
    let odd = [
        (100, String::from(&relayed)),
        // Not declared in jabber:client: must not be embedded as it is.
        (
            110,
            "<message xmlns='jabber:server' type='groupchat'><body>s</body></message>".to_owned(),
        ),
        (120, "not xml at all".to_owned()),
    ];
    for (id, stanza) in odd {
        c.execute(
            "INSERT INTO muc_archive(id, room, stamp_us, nick, sender, stanza)
             VALUES (?1, 'r', ?1, 'n', 's', ?2)",
            rusqlite::params![id, stanza],
        )
        .unwrap();
    }
    let query = q("<query xmlns='urn:xmpp:mam:2' queryid='a&apos;&lt;'><flip-page/></query>");
    let page = execute(&c, "r", &query).unwrap().unwrap();
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
    // Three filled rows and the minidom one as text; the other namespace through the
    // element path; the unreadable row skipped by both.
    assert_eq!(texts, 4);
    assert_eq!(fast.len(), 6);
    assert_eq!(fast, elements);
}

#[test]
fn flip_page_reverses_and_fin_reports_delivered_order() {
    let mut c = test_conn();
    fill(&mut c, 3);
    let query = q("<query xmlns='urn:xmpp:mam:2' queryid='f'><flip-page/></query>");
    let p = execute(&c, "r", &query).unwrap().unwrap();
    let iq: Element = "<iq xmlns='jabber:client' type='set' id='1' from='a@localhost/x' to='r@conference.localhost'/>".parse().unwrap();
    let out = reply(&iq, "r@conference.localhost", &query, &p);
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
