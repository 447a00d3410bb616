//! The room archive's query side, shared by both engines: what a page holds ([`Page`],
//! [`Item`]) and the SQL of a query ([`ArchiveSql`]), built once here with the engine's
//! placeholder style so both engines run the same filters and cursors.
//!
//! Archive ids are time-ordered integers, strictly increasing within a room, so every
//! filter and cursor is a range on the `(room, id)` index and paging never skips or
//! repeats an item, however many arrive between two pages.

use crate::muc::mam::query::ArchiveQuery;

/// A filtered query counts its matches only up to here: RSM's `<count/>` is optional
/// (XEP-0059 §2.6), and counting a filter over a huge archive would cost more than the page.
pub const COUNT_CAP: i64 = 10_000;

/// One archived message as a page returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub stamp_us: i64,
    pub stanza: String,
}

/// One page of a query's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// In id order (oldest first), whichever direction the query paged in.
    pub items: Vec<Item>,
    /// `None` when a filtered query matched more than [`COUNT_CAP`] messages.
    pub count: Option<i64>,
    pub complete: bool,
}

/// A query named an archive id (`after`, `before`, `after-id`, `before-id`, `ids`) that
/// the room's archive does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownId(pub i64);

/// Every id a query names, which must exist in the room's archive.
pub fn named_ids(q: &ArchiveQuery) -> Vec<i64> {
    [q.after, q.before.flatten(), q.before_id, q.after_id]
        .into_iter()
        .flatten()
        .chain(q.ids.iter().flatten().copied())
        .collect()
}

/// A query argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// The SQL of one query: the form's filter (what `<count/>` counts) and the page query
/// (the filter plus the RSM cursor). Every variant is a range on the `(room, id)` index.
pub struct ArchiveSql {
    /// `WHERE` clause of the filter.
    pub filter: String,
    pub args: Vec<Arg>,
    /// Only `room = ?`: the count comes from the per-room counter.
    pub unfiltered: bool,
    /// The page's `SELECT id, stamp_us, stanza …`, its last argument the row limit
    /// (one more than the page, to tell whether it is complete).
    pub page: String,
    pub page_args: Vec<Arg>,
}

impl ArchiveSql {
    /// The SQL of `q` on room `room`; `placeholder(n)` spells the `n`th argument
    /// (1-based: `?n` for SQLite, `$n` for PostgreSQL). The page's arguments start with
    /// the filter's, so one numbering serves both.
    pub fn build(room: &str, q: &ArchiveQuery, placeholder: fn(usize) -> String) -> ArchiveSql {
        let mut filter = String::new();
        let mut args: Vec<Arg> = Vec::new();
        let mut add = |filter: &mut String, sql: &str, v: Arg| {
            args.push(v);
            filter.push_str(sql);
            filter.push_str(&placeholder(args.len()));
        };
        add(&mut filter, "room = ", Arg::Text(room.to_owned()));
        if let Some(s) = q.start {
            add(&mut filter, " AND stamp_us >= ", Arg::Int(s));
        }
        if let Some(e) = q.end {
            add(&mut filter, " AND stamp_us <= ", Arg::Int(e));
        }
        if let Some(n) = &q.with_nick {
            add(&mut filter, " AND nick = ", Arg::Text(n.clone()));
        }
        if let Some(s) = &q.with_sender {
            add(&mut filter, " AND sender = ", Arg::Text(s.clone()));
        }
        if let Some(b) = q.before_id {
            add(&mut filter, " AND id < ", Arg::Int(b));
        }
        if let Some(a) = q.after_id {
            add(&mut filter, " AND id > ", Arg::Int(a));
        }
        if let Some(ids) = &q.ids {
            let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            // Integers only (parsed already), so inlining them cannot inject SQL.
            filter.push_str(&format!(" AND id IN ({})", list.join(",")));
        }
        let unfiltered = args.len() == 1 && q.ids.is_none();
        let mut page_filter = filter.clone();
        let mut page_args = args.clone();
        let mut cursor = |sql: &str, v: Arg| {
            page_args.push(v);
            page_filter.push_str(sql);
            page_filter.push_str(&placeholder(page_args.len()));
        };
        if let Some(a) = q.after {
            cursor(" AND id > ", Arg::Int(a));
        }
        if let Some(Some(b)) = q.before {
            cursor(" AND id < ", Arg::Int(b));
        }
        let order = if q.before.is_some() { "DESC" } else { "ASC" };
        page_args.push(Arg::Int(q.max as i64 + 1));
        let page = format!(
            "SELECT id, stamp_us, stanza FROM muc_archive WHERE {page_filter} ORDER BY id {order} LIMIT {}",
            placeholder(page_args.len())
        );
        ArchiveSql {
            filter,
            args,
            unfiltered,
            page,
            page_args,
        }
    }

    /// The page from the rows the page query returned (up to `max + 1`, in its order)
    /// and the count.
    pub fn finish(q: &ArchiveQuery, mut items: Vec<Item>, count: Option<i64>) -> Page {
        let more = items.len() > q.max;
        items.truncate(q.max);
        if q.before.is_some() {
            items.reverse();
        }
        // With max=0 the client asks only for the count: complete only if there is nothing.
        let complete = if q.max == 0 { count == Some(0) } else { !more };
        Page {
            items,
            count,
            complete,
        }
    }

    /// The filtered count query, capped at [`COUNT_CAP`] + 1 rows.
    pub fn count_sql(&self) -> String {
        format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM muc_archive WHERE {} LIMIT {}) AS capped",
            self.filter,
            COUNT_CAP + 1
        )
    }

    /// A filtered count as the reply states it: `None` past the cap.
    pub fn capped(n: i64) -> Option<i64> {
        (n <= COUNT_CAP).then_some(n)
    }
}
