//! The archive's targets on PostgreSQL: finding the message a correction, retraction or
//! moderation names ([`archived`]), and the service secrets ([`secret`]).

use crate::storage::muc::{ArchiveKey, ArchivedMsg};

const COLUMNS: &str = "id, room, stamp_us, nick, sender, origin_id, client_id, stanza";

fn row(r: &tokio_postgres::Row) -> ArchivedMsg {
    ArchivedMsg {
        id: r.get(0),
        room: r.get(1),
        stamp_us: r.get(2),
        nick: r.get(3),
        sender: r.get(4),
        origin_id: r.get(5),
        client_id: r.get(6),
        stanza: r.get(7),
    }
}

/// The message of room `room` that `key` names.
pub(super) async fn archived(
    client: &deadpool_postgres::Client,
    room: &str,
    key: &ArchiveKey,
) -> anyhow::Result<Option<ArchivedMsg>> {
    let found = match key {
        ArchiveKey::Id(id) => {
            let sql = format!("SELECT {COLUMNS} FROM muc_archive WHERE room = $1 AND id = $2");
            let st = client.prepare_cached(&sql).await?;
            client.query_opt(&st, &[&room, id]).await?
        }
        // The sender's own message first, then the newest.
        ArchiveKey::Client { id, sender } => {
            let sql = format!(
                "SELECT {COLUMNS} FROM muc_archive WHERE room = $1 AND client_id = $2
                 ORDER BY sender = $3 DESC, id DESC LIMIT 1"
            );
            let st = client.prepare_cached(&sql).await?;
            client.query_opt(&st, &[&room, id, sender]).await?
        }
    };
    Ok(found.as_ref().map(row))
}

/// The secret `name`, stored as `fresh` if there was none.
pub(super) async fn secret(
    client: &deadpool_postgres::Client,
    name: &str,
    fresh: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let insert = client
        .prepare_cached(
            "INSERT INTO muc_secrets(name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .await?;
    client.execute(&insert, &[&name, &fresh]).await?;
    let select = client
        .prepare_cached("SELECT value FROM muc_secrets WHERE name = $1")
        .await?;
    Ok(client.query_one(&select, &[&name]).await?.get(0))
}
