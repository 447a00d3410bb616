//! The archive's queries on SQLite: a page of a MAM query (SQL from
//! [`ArchiveSql`]), the bounds, the newest messages for join history.

use mucsub_protocol::mam::{ArchiveBound, Metadata};
use rusqlite::{types::Value, Connection};

use crate::muc::mam::query::ArchiveQuery;
use crate::storage::archive::{named_ids, ArchiveSql, Arg, Item, Page, UnknownId};

fn placeholder(n: usize) -> String {
    format!("?{n}")
}

fn values(args: &[Arg]) -> Vec<Value> {
    args.iter()
        .map(|a| match a {
            Arg::Int(i) => Value::Integer(*i),
            Arg::Text(t) => Value::Text(t.clone()),
        })
        .collect()
}

/// From a row of `SELECT id, stamp_us, stanza`.
fn item(r: &rusqlite::Row) -> rusqlite::Result<Item> {
    Ok(Item {
        id: r.get(0)?,
        stamp_us: r.get(1)?,
        stanza: r.get(2)?,
    })
}

/// The number of messages the query's filter matches: the whole room's from the counter
/// table the archive triggers maintain, a filter's up to the cap.
fn count(conn: &Connection, room: &str, sql: &ArchiveSql) -> rusqlite::Result<Option<i64>> {
    if sql.unfiltered {
        let mut st = conn.prepare_cached("SELECT n FROM muc_archive_counts WHERE room = ?1")?;
        let mut rows = st.query([room])?;
        return Ok(Some(match rows.next()? {
            Some(r) => r.get(0)?,
            None => 0,
        }));
    }
    let n: i64 = conn.query_row(
        &sql.count_sql(),
        rusqlite::params_from_iter(values(&sql.args)),
        |r| r.get(0),
    )?;
    Ok(ArchiveSql::capped(n))
}

/// Runs a query against one room's archive.
pub(super) fn page(
    conn: &Connection,
    room: &str,
    q: &ArchiveQuery,
) -> anyhow::Result<Result<Page, UnknownId>> {
    let mut exists =
        conn.prepare_cached("SELECT 1 FROM muc_archive WHERE room = ?1 AND id = ?2")?;
    for id in named_ids(q) {
        if !exists.exists(rusqlite::params![room, id])? {
            return Ok(Err(UnknownId(id)));
        }
    }
    let sql = ArchiveSql::build(room, q, placeholder);
    let count = count(conn, room, &sql)?;
    let mut st = conn.prepare_cached(&sql.page)?;
    let items = st
        .query_map(rusqlite::params_from_iter(values(&sql.page_args)), item)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Ok(ArchiveSql::finish(q, items, count)))
}

/// The oldest and newest archived messages (XEP-0313 metadata).
pub(super) fn bounds(conn: &Connection, room: &str) -> rusqlite::Result<Metadata> {
    let one = |order: &str| -> rusqlite::Result<Option<ArchiveBound>> {
        let mut st = conn.prepare_cached(&format!(
            "SELECT id, stamp_us FROM muc_archive WHERE room = ?1 ORDER BY id {order} LIMIT 1"
        ))?;
        let mut rows = st.query([room])?;
        match rows.next()? {
            Some(r) => Ok(Some(ArchiveBound {
                id: r.get::<_, i64>(0)?.to_string(),
                stamp_us: r.get(1)?,
            })),
            None => Ok(None),
        }
    };
    Ok(match (one("ASC")?, one("DESC")?) {
        (Some(start), Some(end)) => Metadata {
            start: Some(start),
            end: Some(end),
        },
        _ => Metadata::default(),
    })
}

/// Newest archived messages, oldest first (history on join after a room is reloaded).
pub(super) fn recent(conn: &Connection, room: &str, n: usize) -> rusqlite::Result<Vec<Item>> {
    let mut st = conn.prepare_cached(
        "SELECT id, stamp_us, stanza FROM muc_archive WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut v = st
        .query_map(rusqlite::params![room, n as i64], item)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    v.reverse();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::muc::mam::query::parse_query;

    fn q(xml: &str) -> ArchiveQuery {
        let el: minidom::Element = xml.parse().unwrap();
        parse_query(&el, "r@conference.localhost", 50).unwrap()
    }

    #[tokio::test]
    async fn every_query_shape_searches_the_room_index() {
        let (db, _storage) = super::super::open_in_memory_db(10).await.unwrap();
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
                "<field var='start'><value>2001-01-01T00:00:00Z</value></field>",
                "<before/>",
            ),
            form(
                "<field var='ids'><value>30</value><value>10</value></field>",
                "",
            ),
        ];
        for shape in shapes {
            let plans = db
                .call(move |c| {
                    let sql = ArchiveSql::build("r", &shape, placeholder);
                    let count = format!("SELECT COUNT(*) FROM muc_archive WHERE {}", sql.filter);
                    let mut out = Vec::new();
                    for (text, args) in [(&sql.page, &sql.page_args), (&count, &sql.args)] {
                        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {text}"))?;
                        let plan: Vec<String> = st
                            .query_map(rusqlite::params_from_iter(values(args)), |r| r.get(3))?
                            .collect::<rusqlite::Result<_>>()?;
                        out.push((text.clone(), plan.join("; ")));
                    }
                    Ok(out)
                })
                .await
                .unwrap();
            for (text, plan) in plans {
                assert!(
                    plan.contains("muc_archive_by_room") || plan.contains("INTEGER PRIMARY KEY"),
                    "{text}: {plan}"
                );
                assert!(!plan.contains("SCAN muc_archive"), "{text}: {plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{text}: {plan}");
            }
        }
    }
}
