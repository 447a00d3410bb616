//! The archive's targets on SQLite: finding the message a correction, retraction or
//! moderation names ([`archived`]), and the service secrets ([`secret`]).

use rusqlite::{params, Connection, OptionalExtension};

use crate::storage::muc::{ArchiveKey, ArchivedMsg};

const COLUMNS: &str = "id, room, stamp_us, nick, sender, origin_id, client_id, stanza";

fn row(r: &rusqlite::Row) -> rusqlite::Result<ArchivedMsg> {
    Ok(ArchivedMsg {
        id: r.get(0)?,
        room: r.get(1)?,
        stamp_us: r.get(2)?,
        nick: r.get(3)?,
        sender: r.get(4)?,
        origin_id: r.get(5)?,
        client_id: r.get(6)?,
        stanza: r.get(7)?,
    })
}

/// The message of room `room` that `key` names.
pub(super) fn archived(
    conn: &Connection,
    room: &str,
    key: &ArchiveKey,
) -> rusqlite::Result<Option<ArchivedMsg>> {
    match key {
        ArchiveKey::Id(id) => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM muc_archive WHERE room = ?1 AND id = ?2"
            ))?
            .query_row(params![room, id], row)
            .optional(),
        // The sender's own message first, then the newest.
        ArchiveKey::Client { id, sender } => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM muc_archive WHERE room = ?1 AND client_id = ?2
                 ORDER BY sender = ?3 DESC, id DESC LIMIT 1"
            ))?
            .query_row(params![room, id, sender], row)
            .optional(),
    }
}

/// The secret `name`, stored as `fresh` if there was none.
pub(super) fn secret(conn: &Connection, name: &str, fresh: &[u8]) -> rusqlite::Result<Vec<u8>> {
    conn.prepare_cached(
        "INSERT INTO muc_secrets(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
    )?
    .execute(params![name, fresh])?;
    conn.prepare_cached("SELECT value FROM muc_secrets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}
