//! The room archive's storage side: running a query against the `muc_archive` table
//! (filters, RSM cursors, counts), the recent messages for join history, and the
//! archive's bounds.
//!
//! Archive ids are time-ordered integers, so every filter and cursor is a range on the
//! `(room, id)` index and paging never skips or repeats an item, however many arrive
//! between two pages.

use mucsub_protocol::mam::{ArchiveBound, Metadata};
use rusqlite::{types::Value, Connection};

use super::query::{not_found, ArchiveQuery};
use crate::stanza::Refusal;

/// A filtered query counts its matches only up to here: RSM's `<count/>` is optional
/// (XEP-0059 §2.6), and counting a filter over a huge archive would cost more than the page.
pub(super) const COUNT_CAP: i64 = 10_000;

/// One archived message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub stamp_us: i64,
    pub stanza: String,
}

impl Item {
    /// From a row of `SELECT id, stamp_us, stanza`.
    fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Item> {
        Ok(Item {
            id: r.get(0)?,
            stamp_us: r.get(1)?,
            stanza: r.get(2)?,
        })
    }
}

/// One page of a query's answer.
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
    q: &ArchiveQuery,
) -> anyhow::Result<Result<Page, Refusal>> {
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
        .query_map(
            rusqlite::params_from_iter(sql.page_args.iter()),
            Item::from_row,
        )?
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
pub(super) struct Sql {
    pub(super) filter: String,
    pub(super) args: Vec<Value>,
    /// Only `room = ?`: the count comes from the counter table.
    unfiltered: bool,
    pub(super) page: String,
    pub(super) page_args: Vec<Value>,
}

impl Sql {
    pub(super) fn build(room: &str, q: &ArchiveQuery) -> Sql {
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

/// The oldest and newest archived messages (XEP-0313 metadata).
pub fn bounds(conn: &Connection, room: &str) -> rusqlite::Result<Metadata> {
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
pub fn recent(conn: &Connection, room: &str, n: usize) -> rusqlite::Result<Vec<Item>> {
    let mut st = conn.prepare_cached(
        "SELECT id, stamp_us, stanza FROM muc_archive WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut v = st
        .query_map(rusqlite::params![room, n as i64], Item::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    v.reverse();
    Ok(v)
}
