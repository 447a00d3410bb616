//! The archive's queries on PostgreSQL: a page of a MAM query (SQL from
//! [`ArchiveSql`], numbered `$n`), the bounds, the newest messages for join history.
//! Every query is a range on the `(room, id)` primary key.

use mucsub_protocol::mam::{ArchiveBound, Metadata};
use tokio_postgres::types::ToSql;

use crate::muc::mam::query::ArchiveQuery;
use crate::storage::archive::{named_ids, ArchiveSql, Arg, Item, Page, UnknownId};

fn placeholder(n: usize) -> String {
    format!("${n}")
}

fn params(args: &[Arg]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    args.iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                Arg::Int(i) => Box::new(*i),
                Arg::Text(t) => Box::new(t.clone()),
            }
        })
        .collect()
}

fn refs(p: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn item(r: &tokio_postgres::Row) -> Item {
    Item {
        id: r.get(0),
        stamp_us: r.get(1),
        stanza: r.get(2),
    }
}

/// The first id `q` names that the room's archive does not hold.
async fn unknown_id(
    client: &deadpool_postgres::Client,
    room: &str,
    q: &ArchiveQuery,
) -> anyhow::Result<Option<i64>> {
    let named = named_ids(q);
    if named.is_empty() {
        return Ok(None);
    }
    let st = client
        .prepare_cached("SELECT id FROM muc_archive WHERE room = $1 AND id = ANY($2)")
        .await?;
    let found: std::collections::HashSet<i64> = client
        .query(&st, &[&room, &named])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(named.into_iter().find(|id| !found.contains(id)))
}

/// Runs a query against one room's archive.
pub(super) async fn page(
    client: &deadpool_postgres::Client,
    room: &str,
    q: &ArchiveQuery,
) -> anyhow::Result<Result<Page, UnknownId>> {
    if let Some(id) = unknown_id(client, room, q).await? {
        return Ok(Err(UnknownId(id)));
    }
    let sql = ArchiveSql::build(room, q, placeholder);
    let page_st = client.prepare_cached(&sql.page).await?;
    let page_params = params(&sql.page_args);
    let count = async {
        if sql.unfiltered {
            let st = client
                .prepare_cached("SELECT n FROM muc_archive_counts WHERE room = $1")
                .await?;
            let n = client.query_opt(&st, &[&room]).await?;
            return Ok::<_, anyhow::Error>(Some(n.map_or(0, |r| r.get::<_, i64>(0))));
        }
        let st = client.prepare_cached(&sql.count_sql()).await?;
        let args = params(&sql.args);
        let n: i64 = client.query_one(&st, &refs(&args)).await?.get(0);
        Ok(ArchiveSql::capped(n))
    };
    // Pipelined: the count and the page share a round trip.
    let (count, rows) = tokio::try_join!(count, async {
        Ok(client.query(&page_st, &refs(&page_params)).await?)
    })?;
    let items = rows.iter().map(item).collect();
    Ok(Ok(ArchiveSql::finish(q, items, count)))
}

/// The oldest and newest archived messages (XEP-0313 metadata).
pub(super) async fn bounds(
    client: &deadpool_postgres::Client,
    room: &str,
) -> anyhow::Result<Metadata> {
    let first = client
        .prepare_cached(
            "SELECT id, stamp_us FROM muc_archive WHERE room = $1 ORDER BY id ASC LIMIT 1",
        )
        .await?;
    let last = client
        .prepare_cached(
            "SELECT id, stamp_us FROM muc_archive WHERE room = $1 ORDER BY id DESC LIMIT 1",
        )
        .await?;
    let args: [&(dyn ToSql + Sync); 1] = [&room];
    let (first, last) = tokio::try_join!(
        client.query_opt(&first, &args),
        client.query_opt(&last, &args)
    )?;
    let bound = |r: tokio_postgres::Row| ArchiveBound {
        id: r.get::<_, i64>(0).to_string(),
        stamp_us: r.get(1),
    };
    Ok(match (first, last) {
        (Some(a), Some(b)) => Metadata {
            start: Some(bound(a)),
            end: Some(bound(b)),
        },
        _ => Metadata::default(),
    })
}

/// Newest archived messages, oldest first (history on join after a room is reloaded).
pub(super) async fn recent(
    client: &deadpool_postgres::Client,
    room: &str,
    n: usize,
) -> anyhow::Result<Vec<Item>> {
    let st = client
        .prepare_cached(
            "SELECT id, stamp_us, stanza FROM muc_archive WHERE room = $1 ORDER BY id DESC LIMIT $2",
        )
        .await?;
    let rows = client.query(&st, &[&room, &(n as i64)]).await?;
    let mut v: Vec<Item> = rows.iter().map(item).collect();
    v.reverse();
    Ok(v)
}
