//! The room archive over XEP-0313 (`urn:xmpp:mam:2` and `#extended`) with RSM paging
//! (SPEC S17): query parsing, the SQL, and the result stanzas.
//!
//! Archive ids are time-ordered integers, so every filter and cursor is a range on the
//! `(room, id)` index and paging never skips or repeats an item, however many arrive
//! between two pages.

use minidom::Element;
use rusqlite::{types::Value, Connection};

use super::ids::{parse_stamp, stamp};
use super::xml::*;
use crate::stanza::escape_attr;

/// Largest `ids` field accepted: each id is looked up, so the list is bounded.
const MAX_IDS: usize = 1000;

/// A filtered query counts its matches only up to here: RSM's `<count/>` is optional
/// (XEP-0059 §2.6), and counting a filter over a huge archive would cost more than the page.
const COUNT_CAP: i64 = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MamQuery {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub kind: &'static str,
    pub condition: &'static str,
    pub text: String,
}

fn bad(text: impl Into<String>) -> QueryError {
    QueryError {
        kind: "modify",
        condition: "bad-request",
        text: text.into(),
    }
}

fn not_found(text: impl Into<String>) -> QueryError {
    QueryError {
        kind: "cancel",
        condition: "item-not-found",
        text: text.into(),
    }
}

fn parse_id(s: &str) -> Result<i64, QueryError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| not_found(format!("Unknown archive id '{s}'")))
}

/// Parses `<query xmlns='urn:xmpp:mam:2'>`; `cap` bounds the page size.
pub fn parse_query(q: &Element, room_jid: &str, cap: usize) -> Result<MamQuery, QueryError> {
    let mut out = MamQuery {
        queryid: q.attr("queryid").map(str::to_owned),
        max: cap,
        ..MamQuery::default()
    };
    if let Some(x) = q.get_child("x", NS_DATA) {
        for f in x.children().filter(|f| f.name() == "field") {
            let values: Vec<String> = f
                .children()
                .filter(|v| v.name() == "value")
                .map(|v| v.text())
                .collect();
            let first = values.first().cloned().unwrap_or_default();
            let var = f.attr("var").unwrap_or("");
            if first.is_empty() && var != "ids" {
                continue;
            }
            match var {
                "FORM_TYPE" => {
                    if first != NS_MAM {
                        return Err(bad(format!("Unsupported FORM_TYPE '{first}'")));
                    }
                }
                "start" => {
                    out.start = Some(parse_stamp(&first).ok_or_else(|| bad("Malformed 'start'"))?)
                }
                "end" => out.end = Some(parse_stamp(&first).ok_or_else(|| bad("Malformed 'end'"))?),
                "with" => match first.split_once('/') {
                    Some((bare, nick)) if bare == room_jid => out.with_nick = Some(nick.to_owned()),
                    _ => match jid::Jid::new(&first) {
                        Ok(j) if j.to_bare().as_str() == room_jid => {}
                        Ok(j) => out.with_sender = Some(j.to_bare().to_string()),
                        Err(_) => return Err(bad("Malformed 'with'")),
                    },
                },
                "before-id" => out.before_id = Some(parse_id(&first)?),
                "after-id" => out.after_id = Some(parse_id(&first)?),
                "ids" if values.len() > MAX_IDS => {
                    return Err(QueryError {
                        kind: "modify",
                        condition: "policy-violation",
                        text: format!("At most {MAX_IDS} ids per query"),
                    })
                }
                "ids" => {
                    out.ids = Some(
                        values
                            .iter()
                            .map(|v| parse_id(v))
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                }
                other => return Err(bad(format!("Unknown field '{other}'"))),
            }
        }
    }
    if let Some(set) = q.get_child("set", NS_RSM) {
        if let Some(m) = set.get_child("max", NS_RSM) {
            let n: usize = m
                .text()
                .trim()
                .parse()
                .map_err(|_| bad("Malformed <max/>"))?;
            out.max = n.min(cap);
        }
        if let Some(a) = set.get_child("after", NS_RSM) {
            out.after = Some(parse_id(&a.text())?);
        }
        if let Some(b) = set.get_child("before", NS_RSM) {
            let t = b.text();
            out.before = Some(if t.trim().is_empty() {
                None
            } else {
                Some(parse_id(&t)?)
            });
        }
        if set.get_child("index", NS_RSM).is_some() {
            return Err(QueryError {
                kind: "cancel",
                condition: "feature-not-implemented",
                text: "RSM <index/> is not supported; page with <after/> and <before/>".into(),
            });
        }
    }
    out.flip = q.get_child("flip-page", NS_MAM).is_some();
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub stamp_us: i64,
    pub stanza: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    /// `None` when a filtered query matched more than [`COUNT_CAP`] messages.
    pub count: Option<i64>,
    pub complete: bool,
}

/// The number of messages `filter` matches. The whole room's count comes from the counter
/// table the archive triggers maintain; a filter is counted up to [`COUNT_CAP`].
fn count(
    conn: &Connection,
    room: &str,
    unfiltered: bool,
    filter: &str,
    args: &[Value],
) -> rusqlite::Result<Option<i64>> {
    if unfiltered {
        let mut st = conn.prepare_cached("SELECT n FROM muc_archive_counts WHERE room = ?1")?;
        let mut rows = st.query([room])?;
        return Ok(Some(match rows.next()? {
            Some(r) => r.get(0)?,
            None => 0,
        }));
    }
    let n: i64 = conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM muc_archive WHERE {filter} LIMIT {})",
            COUNT_CAP + 1
        ),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    Ok((n <= COUNT_CAP).then_some(n))
}

fn id_exists(conn: &Connection, room: &str, id: i64) -> rusqlite::Result<bool> {
    let mut st = conn.prepare_cached("SELECT 1 FROM muc_archive WHERE room = ?1 AND id = ?2")?;
    st.exists(rusqlite::params![room, id])
}

/// Runs a query against one room's archive.
pub fn execute(
    conn: &Connection,
    room: &str,
    q: &MamQuery,
) -> anyhow::Result<Result<Page, QueryError>> {
    for id in [q.after, q.before.flatten(), q.before_id, q.after_id]
        .into_iter()
        .flatten()
        .chain(q.ids.iter().flatten().copied())
    {
        if !id_exists(conn, room, id)? {
            return Ok(Err(not_found(format!("Unknown archive id '{id}'"))));
        }
    }
    let sql = Sql::build(room, q);
    let count = count(conn, room, sql.unfiltered, &sql.filter, &sql.args)?;
    let mut st = conn.prepare_cached(&sql.page)?;
    let mut items = st
        .query_map(rusqlite::params_from_iter(sql.page_args.iter()), |r| {
            Ok(Item {
                id: r.get(0)?,
                stamp_us: r.get(1)?,
                stanza: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = items.len() > q.max;
    items.truncate(q.max);
    if q.before.is_some() {
        items.reverse();
    }
    // With max=0 the client asks only for the count: complete only if there is nothing.
    let complete = if q.max == 0 { count == Some(0) } else { !more };
    Ok(Ok(Page {
        items,
        count,
        complete,
    }))
}

/// The SQL of one query: the form's filter (what `<count/>` counts) and the page query
/// (the filter plus the RSM cursor). Every variant is a range on the `(room, id)` index.
struct Sql {
    filter: String,
    args: Vec<Value>,
    /// Only `room = ?`: the count comes from the counter table.
    unfiltered: bool,
    page: String,
    page_args: Vec<Value>,
}

impl Sql {
    fn build(room: &str, q: &MamQuery) -> Sql {
        let mut filter = String::from("room = ?");
        let mut args: Vec<Value> = vec![Value::Text(room.to_owned())];
        let mut add = |sql: &str, v: Value| {
            filter.push_str(sql);
            args.push(v);
        };
        if let Some(s) = q.start {
            add(" AND stamp_us >= ?", Value::Integer(s));
        }
        if let Some(e) = q.end {
            add(" AND stamp_us <= ?", Value::Integer(e));
        }
        if let Some(n) = &q.with_nick {
            add(" AND nick = ?", Value::Text(n.clone()));
        }
        if let Some(s) = &q.with_sender {
            add(" AND sender = ?", Value::Text(s.clone()));
        }
        if let Some(b) = q.before_id {
            add(" AND id < ?", Value::Integer(b));
        }
        if let Some(a) = q.after_id {
            add(" AND id > ?", Value::Integer(a));
        }
        if let Some(ids) = &q.ids {
            let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            // Integers only (parsed above), so inlining them cannot inject SQL.
            filter.push_str(&format!(" AND id IN ({})", list.join(",")));
        }
        let unfiltered = args.len() == 1 && q.ids.is_none();
        let backward = q.before.is_some();
        let mut page_filter = filter.clone();
        let mut page_args = args.clone();
        if let Some(a) = q.after {
            page_filter.push_str(" AND id > ?");
            page_args.push(Value::Integer(a));
        }
        if let Some(Some(b)) = q.before {
            page_filter.push_str(" AND id < ?");
            page_args.push(Value::Integer(b));
        }
        let order = if backward { "DESC" } else { "ASC" };
        let page = format!(
        "SELECT id, stamp_us, stanza FROM muc_archive WHERE {page_filter} ORDER BY id {order} LIMIT {}",
        q.max + 1
    );
        Sql {
            filter,
            args,
            unfiltered,
            page,
            page_args,
        }
    }
}

/// The result messages and the final IQ for a page.
pub fn reply(iq: &Element, room_jid: &str, q: &MamQuery, page: &Page) -> Vec<Element> {
    reply_with(iq, room_jid, q, page, false)
        .into_iter()
        .filter_map(|o| match o {
            Out::El(e) => Some(e),
            Out::Xml { .. } => None,
        })
        .collect()
}

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

/// [`reply`] with the result messages as text where the stored stanza allows: it goes in
/// verbatim instead of being parsed and written again, which was most of a page's cost.
pub fn reply_out(iq: &Element, room_jid: &str, q: &MamQuery, page: &Page) -> Vec<Out> {
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

fn result_xml(requester: &str, room_jid: &str, q: &MamQuery, it: &Item) -> String {
    let domain = room_jid.split_once('@').map_or(room_jid, |(_, d)| d);
    let qid = q
        .queryid
        .as_deref()
        .map(|id| format!(" queryid='{}'", escape_attr(id)))
        .unwrap_or_default();
    format!(
        "<message xmlns='{NS_CLIENT}' to='{}' from='{}'><result xmlns='{NS_MAM}'{qid} id='{}'><forwarded xmlns='{NS_FORWARD}'><delay xmlns='{NS_DELAY}' from='{}' stamp='{}'/>{}</forwarded></result></message>",
        escape_attr(requester),
        escape_attr(room_jid),
        it.id,
        escape_attr(domain),
        stamp(it.stamp_us),
        it.stanza
    )
}

fn reply_with(iq: &Element, room_jid: &str, q: &MamQuery, page: &Page, text: bool) -> Vec<Out> {
    let requester = iq.attr("from").unwrap_or("").to_owned();
    let mut items: Vec<&Item> = page.items.iter().collect();
    if q.flip {
        items.reverse();
    }
    let mut out = Vec::with_capacity(items.len() + 1);
    for it in &items {
        if text && verbatim_ok(&it.stanza) {
            out.push(Out::Xml {
                to: requester.clone(),
                xml: result_xml(&requester, room_jid, q, it),
            });
            continue;
        }
        let Some(stored) = parse(&it.stanza) else {
            tracing::warn!(
                room = room_jid,
                id = it.id,
                "unreadable archived stanza skipped"
            );
            continue;
        };
        let fwd = B::new("forwarded", NS_FORWARD)
            .c(B::new("delay", NS_DELAY)
                .a(
                    "from",
                    room_jid.split_once('@').map_or(room_jid, |(_, d)| d),
                )
                .a("stamp", stamp(it.stamp_us))
                .b())
            .c(stored)
            .b();
        let result = B::new("result", NS_MAM)
            .opt("queryid", q.queryid.clone())
            .a("id", it.id.to_string())
            .c(fwd)
            .b();
        out.push(Out::El(
            B::new("message", NS_CLIENT)
                .a("to", requester.clone())
                .a("from", room_jid)
                .c(result)
                .b(),
        ));
    }
    let mut set = B::new("set", NS_RSM);
    if let Some(n) = page.count {
        set = set.c(text_el("count", NS_RSM, n.to_string()));
    }
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        set = set
            .c(text_el("first", NS_RSM, first.id.to_string()))
            .c(text_el("last", NS_RSM, last.id.to_string()));
    }
    let mut fin = B::new("fin", NS_MAM);
    if page.complete {
        fin = fin.a("complete", "true");
    }
    out.push(Out::El(iq_result(iq, Some(fin.c(set.b()).b()))));
    out
}

/// XEP-0313 metadata: the oldest and newest archived message.
pub fn metadata(conn: &Connection, room: &str) -> rusqlite::Result<Element> {
    let one = |order: &str| -> rusqlite::Result<Option<(i64, i64)>> {
        let mut st = conn.prepare_cached(&format!(
            "SELECT id, stamp_us FROM muc_archive WHERE room = ?1 ORDER BY id {order} LIMIT 1"
        ))?;
        let mut rows = st.query([room])?;
        match rows.next()? {
            Some(r) => Ok(Some((r.get(0)?, r.get(1)?))),
            None => Ok(None),
        }
    };
    let mut m = B::new("metadata", NS_MAM);
    if let (Some(s), Some(e)) = (one("ASC")?, one("DESC")?) {
        for (name, (id, st)) in [("start", s), ("end", e)] {
            m = m.c(B::new(name, NS_MAM)
                .a("id", id.to_string())
                .a("timestamp", stamp(st))
                .b());
        }
    }
    Ok(m.b())
}

/// Newest archived messages, oldest first (history on join after a room is reloaded).
pub fn recent(conn: &Connection, room: &str, n: usize) -> rusqlite::Result<Vec<Item>> {
    let mut st = conn.prepare_cached(
        "SELECT id, stamp_us, stanza FROM muc_archive WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut v = st
        .query_map(rusqlite::params![room, n as i64], |r| {
            Ok(Item {
                id: r.get(0)?,
                stamp_us: r.get(1)?,
                stanza: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    v.reverse();
    Ok(v)
}

/// The form a client may fetch to learn the supported fields.
pub fn query_form() -> Element {
    let field = |var: &str, kind: &str| B::new("field", NS_DATA).a("var", var).a("type", kind).b();
    B::new("query", NS_MAM)
        .c(B::new("x", NS_DATA)
            .a("type", "form")
            .c(B::new("field", NS_DATA)
                .a("var", "FORM_TYPE")
                .a("type", "hidden")
                .c(text_el("value", NS_DATA, NS_MAM))
                .b())
            .c(field("with", "jid-single"))
            .c(field("start", "text-single"))
            .c(field("end", "text-single"))
            .c(field("before-id", "text-single"))
            .c(field("after-id", "text-single"))
            .c(field("ids", "text-multi"))
            .b())
        .b()
}

#[cfg(test)]
mod tests {
    use super::super::store::{archive_batch, test_conn, ArchivedMsg};
    use super::*;

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

    fn q(xml: &str) -> MamQuery {
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
        let fin_set = |page: &Page, query: &MamQuery| {
            let out = reply(&iq, "r@conference.localhost", query, page);
            let fin = out
                .last()
                .unwrap()
                .get_child("fin", NS_MAM)
                .unwrap()
                .clone();
            fin.get_child("set", NS_RSM).unwrap().clone()
        };
        assert!(fin_set(&p, &filtered).get_child("count", NS_RSM).is_none());
        let all = q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></query>");
        let p = execute(&c, "r", &all).unwrap().unwrap();
        assert_eq!(p.count, Some(COUNT_CAP + 2));
        let set = fin_set(&p, &all);
        let expected = (COUNT_CAP + 2).to_string();
        assert_eq!(set.get_child("count", NS_RSM).unwrap().text(), expected);
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
            (100, super::super::xml::to_string(&relayed)),
            // Not declared in jabber:client: must not be embedded as it is.
            (
                110,
                "<message xmlns='jabber:server' type='groupchat'><body>s</body></message>"
                    .to_owned(),
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
                m.get_child("result", NS_MAM)
                    .unwrap()
                    .attr("id")
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(got, vec!["30", "20", "10"]);
        let fin = out[3].get_child("fin", NS_MAM).unwrap();
        assert_eq!(fin.attr("complete"), Some("true"));
        let set = fin.get_child("set", NS_RSM).unwrap();
        assert_eq!(set.get_child("first", NS_RSM).unwrap().text(), "30");
    }
}
