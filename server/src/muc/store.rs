//! The MUC tables on the server's SQLite database (component `muc` in `schema_versions`).
//!
//! Everything here is synchronous and runs inside [`crate::storage::Db::call`]. A room task
//! turns one incoming stanza into a list of [`StoreOp`]s and applies them in a single
//! transaction ([`apply`]) before any reply or broadcast leaves, which is the durability
//! promise of docs/protocol.md S16.

use rusqlite::{params, Connection, OptionalExtension};

use super::affiliation::Affiliation;
use super::config_form::RoomConfig;

pub const COMPONENT: &str = "muc";

/// `MIGRATIONS[i]` brings the `muc` tables from version `i` to `i + 1`. Append only.
pub const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE muc_rooms(
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        public INTEGER NOT NULL,
        title TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        subject_nick TEXT NOT NULL DEFAULT '',
        created_us INTEGER NOT NULL
    );
    CREATE TABLE muc_affiliations(
        room TEXT NOT NULL,
        jid TEXT NOT NULL,
        affiliation TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY(room, jid)
    );
    CREATE TABLE muc_subscriptions(
        room TEXT NOT NULL,
        jid TEXT NOT NULL,
        nick TEXT NOT NULL,
        nodes TEXT NOT NULL,
        PRIMARY KEY(room, jid)
    );
    -- The service-level <subscriptions/> list reads by account, never loading rooms.
    CREATE INDEX muc_subscriptions_by_jid ON muc_subscriptions(jid);
    CREATE TABLE muc_archive(
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        stamp_us INTEGER NOT NULL,
        nick TEXT NOT NULL,
        sender TEXT NOT NULL,
        stanza TEXT NOT NULL
    );
    CREATE INDEX muc_archive_by_room ON muc_archive(room, id);
",
    "
    -- RSM <count/> of a whole room's archive without scanning it (a MAM page on a
    -- 1,000,000-message room spent almost all its time in COUNT(*)). Triggers keep it
    -- in the same transaction as every insert and delete, whoever writes the archive.
    CREATE TABLE muc_archive_counts(
        room TEXT PRIMARY KEY,
        n INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO muc_archive_counts(room, n) SELECT room, COUNT(*) FROM muc_archive GROUP BY room;
    CREATE TRIGGER muc_archive_count_insert AFTER INSERT ON muc_archive BEGIN
        INSERT INTO muc_archive_counts(room, n) VALUES (new.room, 1)
            ON CONFLICT(room) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER muc_archive_count_delete AFTER DELETE ON muc_archive BEGIN
        UPDATE muc_archive_counts SET n = n - 1 WHERE room = old.room;
    END;
",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMsg {
    pub id: i64,
    pub room: String,
    pub stamp_us: i64,
    pub nick: String,
    /// Bare JID of the real sender (for `with` and moderation), never shown to anyone who
    /// may not see real JIDs.
    pub sender: String,
    /// The stanza as broadcast, without `to`.
    pub stanza: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    pub jid: String,
    pub nick: String,
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct StoredRoom {
    pub name: String,
    pub config: RoomConfig,
    pub subject: String,
    pub subject_nick: String,
    pub affiliations: Vec<(String, Affiliation)>,
    pub subscriptions: Vec<StoredSubscription>,
}

/// One durable change.
#[derive(Debug, Clone)]
pub enum StoreOp {
    SaveRoom {
        name: String,
        config: RoomConfig,
    },
    SetSubject {
        room: String,
        subject: String,
        nick: String,
    },
    SetAffiliation {
        room: String,
        jid: String,
        affiliation: Affiliation,
    },
    SetSubscription {
        room: String,
        sub: StoredSubscription,
    },
    RemoveSubscription {
        room: String,
        jid: String,
    },
    Archive(ArchivedMsg),
    /// Removes the room with everything attached to it, archive included.
    DestroyRoom {
        room: String,
    },
}

/// Applies `ops` in one transaction.
pub fn apply(conn: &mut Connection, ops: &[StoreOp]) -> rusqlite::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    apply_in(&tx, ops)?;
    tx.commit()
}

/// Applies `ops` inside the caller's transaction (a [`crate::storage::Db::write`] group).
pub fn apply_in(tx: &Connection, ops: &[StoreOp]) -> rusqlite::Result<()> {
    for op in ops {
        match op {
            StoreOp::SaveRoom { name, config } => {
                let text = toml::to_string(config).unwrap_or_default();
                tx.execute(
                    "INSERT INTO muc_rooms(name, config, public, title, created_us)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(name) DO UPDATE SET config = excluded.config,
                        public = excluded.public, title = excluded.title",
                    params![
                        name,
                        text,
                        config.public,
                        config.name,
                        super::ids::now_micros()
                    ],
                )?;
            }
            StoreOp::SetSubject {
                room,
                subject,
                nick,
            } => {
                tx.execute(
                    "UPDATE muc_rooms SET subject = ?2, subject_nick = ?3 WHERE name = ?1",
                    params![room, subject, nick],
                )?;
            }
            StoreOp::SetAffiliation {
                room,
                jid,
                affiliation,
            } => {
                if *affiliation == Affiliation::None {
                    tx.execute(
                        "DELETE FROM muc_affiliations WHERE room = ?1 AND jid = ?2",
                        params![room, jid],
                    )?;
                } else {
                    tx.execute(
                        "INSERT INTO muc_affiliations(room, jid, affiliation) VALUES (?1, ?2, ?3)
                         ON CONFLICT(room, jid) DO UPDATE SET affiliation = excluded.affiliation",
                        params![room, jid, affiliation.as_str()],
                    )?;
                }
            }
            StoreOp::SetSubscription { room, sub } => {
                tx.prepare_cached(
                    "INSERT INTO muc_subscriptions(room, jid, nick, nodes) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(room, jid) DO UPDATE SET nick = excluded.nick,
                        nodes = excluded.nodes",
                )?
                .execute(params![room, sub.jid, sub.nick, sub.nodes.join(" ")])?;
            }
            StoreOp::RemoveSubscription { room, jid } => {
                tx.execute(
                    "DELETE FROM muc_subscriptions WHERE room = ?1 AND jid = ?2",
                    params![room, jid],
                )?;
            }
            StoreOp::Archive(m) => {
                tx.prepare_cached(
                    "INSERT INTO muc_archive(id, room, stamp_us, nick, sender, stanza)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    m.id, m.room, m.stamp_us, m.nick, m.sender, m.stanza
                ])?;
            }
            StoreOp::DestroyRoom { room } => {
                for sql in [
                    "DELETE FROM muc_rooms WHERE name = ?1",
                    "DELETE FROM muc_affiliations WHERE room = ?1",
                    "DELETE FROM muc_subscriptions WHERE room = ?1",
                    "DELETE FROM muc_archive WHERE room = ?1",
                    "DELETE FROM muc_archive_counts WHERE room = ?1",
                ] {
                    tx.execute(sql, [room])?;
                }
            }
        }
    }
    Ok(())
}

fn split_nodes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

pub fn load_room(conn: &Connection, name: &str) -> rusqlite::Result<Option<StoredRoom>> {
    let row = conn
        .query_row(
            "SELECT config, subject, subject_nick FROM muc_rooms WHERE name = ?1",
            [name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((config, subject, subject_nick)) = row else {
        return Ok(None);
    };
    let config = toml::from_str::<RoomConfig>(&config).unwrap_or_else(|e| {
        tracing::warn!(room = name, error = %e, "unreadable room config; using defaults");
        RoomConfig::default()
    });
    let mut st =
        conn.prepare_cached("SELECT jid, affiliation FROM muc_affiliations WHERE room = ?1")?;
    let affiliations = st
        .query_map([name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .filter_map(|r| match r {
            Ok((jid, a)) => Affiliation::parse(&a).map(|a| Ok((jid, a))),
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare_cached(
        "SELECT jid, nick, nodes FROM muc_subscriptions WHERE room = ?1 ORDER BY rowid",
    )?;
    let subscriptions = st
        .query_map([name], |r| {
            Ok(StoredSubscription {
                jid: r.get(0)?,
                nick: r.get(1)?,
                nodes: split_nodes(&r.get::<_, String>(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(StoredRoom {
        name: name.to_owned(),
        config,
        subject,
        subject_nick,
        affiliations,
        subscriptions,
    }))
}

/// A service-level subscription with the room's newest archive entry (docs/protocol.md S19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSubscription {
    pub room: String,
    pub nick: String,
    pub nodes: Vec<String>,
    pub last: Option<(i64, i64)>,
}

/// Every room `jid` is subscribed to, from the index, without loading any room.
pub fn subscriptions_of(
    conn: &Connection,
    jid: &str,
) -> rusqlite::Result<Vec<AccountSubscription>> {
    let mut st = conn.prepare_cached(
        "SELECT s.room, s.nick, s.nodes,
            (SELECT a.id FROM muc_archive a WHERE a.room = s.room ORDER BY a.id DESC LIMIT 1),
            (SELECT a.stamp_us FROM muc_archive a WHERE a.room = s.room ORDER BY a.id DESC LIMIT 1)
         FROM muc_subscriptions s WHERE s.jid = ?1 ORDER BY s.room",
    )?;
    let rows = st.query_map([jid], |r| {
        let id: Option<i64> = r.get(3)?;
        let stamp: Option<i64> = r.get(4)?;
        Ok(AccountSubscription {
            room: r.get(0)?,
            nick: r.get(1)?,
            nodes: split_nodes(&r.get::<_, String>(2)?),
            last: id.zip(stamp),
        })
    })?;
    rows.collect()
}

/// Rooms to list in the service's disco#items: (name, title).
pub fn public_rooms(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut st =
        conn.prepare_cached("SELECT name, title FROM muc_rooms WHERE public = 1 ORDER BY name")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The largest archive id on disk, to seed the id generator.
pub fn max_archive_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM muc_archive", [], |r| {
        r.get(0)
    })
}

/// Temporary rooms only outlive a restart while they have subscribers: their occupants are
/// gone with the old process.
pub fn drop_stale_temporary_rooms(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    let mut rooms = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT r.name, r.config FROM muc_rooms r WHERE NOT EXISTS
                (SELECT 1 FROM muc_subscriptions s WHERE s.room = r.name)",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (name, config) = row?;
            let persistent = toml::from_str::<RoomConfig>(&config)
                .map(|c| c.persistent)
                .unwrap_or(true);
            if !persistent {
                rooms.push(name);
            }
        }
    }
    let ops: Vec<StoreOp> = rooms
        .iter()
        .map(|r| StoreOp::DestroyRoom { room: r.clone() })
        .collect();
    apply(conn, &ops)?;
    Ok(rooms)
}

/// Removes subscriptions of this server's accounts that no longer exist (deleted while
/// the server was down, e.g. with `mucsub-server user remove`). Returns how many went.
pub fn purge_deleted_accounts(conn: &Connection, domain: &str) -> rusqlite::Result<usize> {
    let has_accounts = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'accounts'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !has_accounts {
        return Ok(0);
    }
    conn.execute(
        "DELETE FROM muc_subscriptions
         WHERE substr(jid, instr(jid, '@') + 1) = ?1
           AND substr(jid, 1, instr(jid, '@') - 1) NOT IN (SELECT username FROM accounts)",
        [domain],
    )
}

/// Inserts many archive rows in one transaction (bulk import and tests).
pub fn archive_batch(conn: &mut Connection, msgs: &[ArchivedMsg]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO muc_archive(id, room, stamp_us, nick, sender, stanza)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for m in msgs {
            st.execute(params![
                m.id, m.room, m.stamp_us, m.nick, m.sender, m.stanza
            ])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
pub(crate) fn test_conn() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_versions(component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    )
    .unwrap();
    crate::storage::migrate(&mut c, COMPONENT, MIGRATIONS).unwrap();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM muc_rooms WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    #[test]
    fn room_affiliations_and_subscriptions_round_trip() {
        let mut c = test_conn();
        let config = RoomConfig {
            name: "Lab".into(),
            ..RoomConfig::default()
        };
        apply(
            &mut c,
            &[
                StoreOp::SaveRoom {
                    name: "lab".into(),
                    config: config.clone(),
                },
                StoreOp::SetAffiliation {
                    room: "lab".into(),
                    jid: "alice@localhost".into(),
                    affiliation: Affiliation::Owner,
                },
                StoreOp::SetSubscription {
                    room: "lab".into(),
                    sub: StoredSubscription {
                        jid: "bob@localhost".into(),
                        nick: "bob".into(),
                        nodes: vec!["urn:xmpp:mucsub:nodes:messages".into()],
                    },
                },
                StoreOp::Archive(ArchivedMsg {
                    id: 42,
                    room: "lab".into(),
                    stamp_us: 7,
                    nick: "alice".into(),
                    sender: "alice@localhost".into(),
                    stanza: "<message/>".into(),
                }),
            ],
        )
        .unwrap();
        let r = load_room(&c, "lab").unwrap().unwrap();
        assert_eq!(r.config, config);
        assert_eq!(
            r.affiliations,
            vec![("alice@localhost".to_string(), Affiliation::Owner)]
        );
        assert_eq!(r.subscriptions[0].nick, "bob");
        let subs = subscriptions_of(&c, "bob@localhost").unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].last, Some((42, 7)));
        assert_eq!(max_archive_id(&c).unwrap(), 42);
        assert_eq!(
            public_rooms(&c).unwrap(),
            vec![("lab".into(), "Lab".into())]
        );
        apply(&mut c, &[StoreOp::DestroyRoom { room: "lab".into() }]).unwrap();
        assert!(load_room(&c, "lab").unwrap().is_none());
        assert!(subscriptions_of(&c, "bob@localhost").unwrap().is_empty());
    }

    #[test]
    fn stale_temporary_rooms_go_unless_subscribed() {
        let mut c = test_conn();
        let temp = RoomConfig {
            persistent: false,
            ..RoomConfig::default()
        };
        apply(
            &mut c,
            &[
                StoreOp::SaveRoom {
                    name: "t1".into(),
                    config: temp.clone(),
                },
                StoreOp::SaveRoom {
                    name: "t2".into(),
                    config: temp,
                },
                StoreOp::SetSubscription {
                    room: "t2".into(),
                    sub: StoredSubscription {
                        jid: "bob@localhost".into(),
                        nick: "bob".into(),
                        nodes: vec![],
                    },
                },
            ],
        )
        .unwrap();
        assert_eq!(
            drop_stale_temporary_rooms(&mut c).unwrap(),
            vec!["t1".to_string()]
        );
        assert!(room_exists(&c, "t2").unwrap());
    }
}
