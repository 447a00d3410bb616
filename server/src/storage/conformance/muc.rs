//! [`crate::storage::MucStore`] cases: rooms, configuration, affiliations, subscriptions,
//! quotas, the batch commit and its deduplication.

use super::opener::{creds, Opener};
use crate::muc::affiliation::Affiliation;
use crate::muc::config_form::RoomConfig;
use crate::storage::{ArchivedMsg, MucStore, StoreOp, StoredSubscription};

const MESSAGES: &str = "urn:xmpp:mucsub:nodes:messages";
const SUBJECT: &str = "urn:xmpp:mucsub:nodes:subject";

pub(crate) fn msg(room: &str, id: i64, sender: &str) -> ArchivedMsg {
    ArchivedMsg {
        id,
        room: room.into(),
        stamp_us: id * 1000,
        nick: sender.split('@').next().unwrap_or(sender).into(),
        sender: sender.into(),
        origin_id: None,
        client_id: None,
        stanza: format!(
            "<message xmlns='jabber:client' type='groupchat'><body>{id}</body></message>"
        ),
    }
}

pub(crate) fn save(name: &str, config: RoomConfig) -> StoreOp {
    StoreOp::SaveRoom {
        name: name.into(),
        config,
    }
}

fn sub(room: &str, jid: &str, nick: &str, nodes: &[&str]) -> StoreOp {
    StoreOp::SetSubscription {
        room: room.into(),
        sub: StoredSubscription {
            jid: jid.into(),
            nick: nick.into(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        },
    }
}

fn affiliate(room: &str, jid: &str, affiliation: Affiliation) -> StoreOp {
    StoreOp::SetAffiliation {
        room: room.into(),
        jid: jid.into(),
        affiliation,
    }
}

fn owner(room: &str, jid: &str) -> StoreOp {
    affiliate(room, jid, Affiliation::Owner)
}

async fn commit(store: &dyn MucStore, ops: Vec<StoreOp>) {
    let done = store.commit(ops).await.expect("commit");
    assert!(done.duplicates.is_empty(), "{done:?}");
}

fn subscribers(room: &crate::storage::StoredRoom) -> Vec<(&str, &str)> {
    room.subscriptions
        .iter()
        .map(|s| (s.jid.as_str(), s.nick.as_str()))
        .collect()
}

pub async fn room_round_trips_with_config_subject_affiliations_subscriptions(open: impl Opener) {
    let s = open.open(10).await;
    let config = RoomConfig {
        name: "The Lab".into(),
        public: false,
        persistent: true,
        ..RoomConfig::default()
    };
    assert!(s.muc.load_room("lab", 20).await.unwrap().is_none());
    commit(
        &*s.muc,
        vec![
            save("lab", config.clone()),
            owner("lab", "alice@localhost"),
            affiliate("lab", "carol@localhost", Affiliation::Member),
            sub("lab", "bob@localhost", "bob", &[MESSAGES, SUBJECT]),
            sub("lab", "dave@localhost", "dave", &[]),
            StoreOp::SetSubject {
                room: "lab".into(),
                subject: "Plans ✓".into(),
                nick: "alice".into(),
            },
        ],
    )
    .await;
    let (room, history) = s.muc.load_room("lab", 20).await.unwrap().unwrap();
    assert_eq!(room.name, "lab");
    assert_eq!(room.config, config);
    assert_eq!(
        (room.subject.as_str(), room.subject_nick.as_str()),
        ("Plans ✓", "alice")
    );
    let mut affs = room.affiliations.clone();
    affs.sort();
    assert_eq!(
        affs,
        [
            ("alice@localhost".to_string(), Affiliation::Owner),
            ("carol@localhost".to_string(), Affiliation::Member)
        ]
    );
    assert_eq!(
        subscribers(&room),
        [("bob@localhost", "bob"), ("dave@localhost", "dave")]
    );
    assert_eq!(room.subscriptions[0].nodes, [MESSAGES, SUBJECT]);
    assert!(room.subscriptions[1].nodes.is_empty());
    assert!(history.is_empty());
    // A new configuration replaces the old one; the subject stays.
    let changed = RoomConfig {
        name: "Lab 2".into(),
        ..config
    };
    commit(&*s.muc, vec![save("lab", changed.clone())]).await;
    let (room, _) = s.muc.load_room("lab", 20).await.unwrap().unwrap();
    assert_eq!((room.config, room.subject.as_str()), (changed, "Plans ✓"));
}

pub async fn resubscribing_is_idempotent_and_keeps_the_place(open: impl Opener) {
    let s = open.open(10).await;
    commit(&*s.muc, vec![save("r", RoomConfig::default())]).await;
    for jid in ["a@localhost", "b@localhost", "c@localhost"] {
        commit(&*s.muc, vec![sub("r", jid, "n", &[MESSAGES])]).await;
    }
    // The same subscription again, and a changed one: no second row, same place.
    commit(&*s.muc, vec![sub("r", "a@localhost", "n", &[MESSAGES])]).await;
    commit(&*s.muc, vec![sub("r", "b@localhost", "bee", &[SUBJECT])]).await;
    let (room, _) = s.muc.load_room("r", 0).await.unwrap().unwrap();
    assert_eq!(
        subscribers(&room),
        [
            ("a@localhost", "n"),
            ("b@localhost", "bee"),
            ("c@localhost", "n")
        ]
    );
    assert_eq!(room.subscriptions[1].nodes, [SUBJECT]);
    assert_eq!(s.muc.subscription_count("a@localhost").await.unwrap(), 1);
    // Removing one (twice: the second is a no-op) leaves the others in order.
    for _ in 0..2 {
        commit(
            &*s.muc,
            vec![StoreOp::RemoveSubscription {
                room: "r".into(),
                jid: "b@localhost".into(),
            }],
        )
        .await;
    }
    let (room, _) = s.muc.load_room("r", 0).await.unwrap().unwrap();
    assert_eq!(
        subscribers(&room),
        [("a@localhost", "n"), ("c@localhost", "n")]
    );
}

pub async fn affiliation_none_removes_it(open: impl Opener) {
    let s = open.open(10).await;
    commit(
        &*s.muc,
        vec![
            save("r", RoomConfig::default()),
            owner("r", "a@localhost"),
            affiliate("r", "b@localhost", Affiliation::Outcast),
        ],
    )
    .await;
    commit(
        &*s.muc,
        vec![
            affiliate("r", "b@localhost", Affiliation::None),
            affiliate("r", "a@localhost", Affiliation::Admin),
            affiliate("r", "nobody@localhost", Affiliation::None),
        ],
    )
    .await;
    let (room, _) = s.muc.load_room("r", 0).await.unwrap().unwrap();
    assert_eq!(
        room.affiliations,
        [("a@localhost".to_string(), Affiliation::Admin)]
    );
}

pub async fn a_failed_commit_writes_nothing(open: impl Opener) {
    let s = open.open(10).await;
    commit(
        &*s.muc,
        vec![
            save("r", RoomConfig::default()),
            StoreOp::Archive(msg("r", 10, "a@localhost")),
        ],
    )
    .await;
    // The second archive row reuses id 10: the whole batch fails, its first writes too.
    let bad = vec![
        sub("r", "b@localhost", "b", &[MESSAGES]),
        StoreOp::Archive(msg("r", 11, "a@localhost")),
        StoreOp::Archive(msg("r", 10, "a@localhost")),
    ];
    assert!(s.muc.commit(bad).await.is_err());
    let (room, history) = s.muc.load_room("r", 10).await.unwrap().unwrap();
    assert!(room.subscriptions.is_empty());
    assert_eq!(history.iter().map(|i| i.id).collect::<Vec<_>>(), [10]);
    let q = crate::muc::mam::query::ArchiveQuery {
        max: 10,
        ..Default::default()
    };
    assert_eq!(
        s.muc.archive_page("r", &q).await.unwrap().unwrap().count,
        Some(1)
    );
    // The store is usable afterwards.
    commit(&*s.muc, vec![StoreOp::Archive(msg("r", 11, "a@localhost"))]).await;
}

pub async fn account_subscriptions_list_rooms_never_loaded_with_the_sync_hint(open: impl Opener) {
    let s = open.open(10).await;
    let mut ops = Vec::new();
    for room in ["zeta", "alpha", "mid"] {
        ops.push(save(room, RoomConfig::default()));
        ops.push(sub(
            room,
            "bob@localhost",
            &format!("bob-{room}"),
            &[MESSAGES],
        ));
    }
    ops.push(sub("alpha", "carol@localhost", "carol", &[]));
    ops.push(StoreOp::Archive(msg("alpha", 100, "a@localhost")));
    ops.push(StoreOp::Archive(msg("alpha", 105, "a@localhost")));
    ops.push(StoreOp::Archive(msg("zeta", 90, "a@localhost")));
    commit(&*s.muc, ops).await;
    // No room was loaded: the list comes from storage alone, by room name.
    let subs = s.muc.subscriptions_of("bob@localhost").await.unwrap();
    let got: Vec<_> = subs
        .iter()
        .map(|x| (x.room.as_str(), x.nick.as_str(), x.last))
        .collect();
    assert_eq!(
        got,
        [
            ("alpha", "bob-alpha", Some((105, 105_000))),
            ("mid", "bob-mid", None),
            ("zeta", "bob-zeta", Some((90, 90_000)))
        ]
    );
    assert_eq!(subs[0].nodes, [MESSAGES]);
    assert!(s
        .muc
        .subscriptions_of("nobody@localhost")
        .await
        .unwrap()
        .is_empty());
}

pub async fn quota_counts_come_from_storage(open: impl Opener) {
    let s = open.open(10).await;
    let mut ops = Vec::new();
    for room in ["r1", "r2", "r3"] {
        ops.push(save(room, RoomConfig::default()));
        ops.push(sub(room, "bob@localhost", "bob", &[MESSAGES]));
    }
    ops.push(owner("r1", "alice@localhost"));
    ops.push(owner("r2", "alice@localhost"));
    ops.push(affiliate("r3", "alice@localhost", Affiliation::Admin));
    commit(&*s.muc, ops).await;
    assert_eq!(s.muc.subscription_count("bob@localhost").await.unwrap(), 3);
    assert_eq!(
        s.muc.subscription_count("alice@localhost").await.unwrap(),
        0
    );
    assert_eq!(s.muc.rooms_owned_by("alice@localhost").await.unwrap(), 2);
    assert_eq!(s.muc.rooms_owned_by("bob@localhost").await.unwrap(), 0);
}

pub async fn room_quota_commit_counts_in_the_same_transaction(open: impl Opener) {
    let s = open.open(10).await;
    let create = |room: &str| {
        vec![
            save(room, RoomConfig::default()),
            owner(room, "alice@localhost"),
        ]
    };
    assert_eq!(
        s.muc
            .commit_within_room_quota(None, "alice@localhost", 2, create("r1"))
            .await
            .unwrap(),
        Ok(())
    );
    // Concurrent creations for one account: never more than the quota.
    let tries = ["r2", "r3", "r4", "r5"].map(|room| {
        let muc = s.muc.clone();
        let ops = create(room);
        tokio::spawn(async move {
            muc.commit_within_room_quota(None, "alice@localhost", 2, ops)
                .await
        })
    });
    let mut created = 0;
    for t in tries {
        match t.await.unwrap().unwrap() {
            Ok(()) => created += 1,
            Err(owned) => assert_eq!(owned, 2),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(s.muc.rooms_owned_by("alice@localhost").await.unwrap(), 2);
    let loaded = ["r2", "r3", "r4", "r5"].map(|r| {
        let muc = s.muc.clone();
        async move { muc.load_room(r, 0).await.unwrap().is_some() }
    });
    let mut present = 0;
    for l in loaded {
        present += usize::from(l.await);
    }
    assert_eq!(present, 1, "refused creations left nothing behind");
}

pub async fn public_rooms_are_listed_by_name_with_titles(open: impl Opener) {
    let s = open.open(10).await;
    let room = |title: &str, public: bool| RoomConfig {
        name: title.into(),
        public,
        ..RoomConfig::default()
    };
    commit(
        &*s.muc,
        vec![
            save("b", room("Bee", true)),
            save("hidden", room("Secret", false)),
            save("a", room("", true)),
        ],
    )
    .await;
    assert_eq!(
        s.muc.public_rooms().await.unwrap(),
        [("a".to_string(), String::new()), ("b".into(), "Bee".into())]
    );
    // Made private: gone from the list.
    commit(&*s.muc, vec![save("b", room("Bee", false))]).await;
    assert_eq!(s.muc.public_rooms().await.unwrap().len(), 1);
}

pub async fn room_names_list_every_room_public_or_not(open: impl Opener) {
    let s = open.open(10).await;
    assert!(s.muc.room_names().await.unwrap().is_empty());
    let private = RoomConfig {
        public: false,
        ..RoomConfig::default()
    };
    let temporary = RoomConfig {
        persistent: false,
        ..RoomConfig::default()
    };
    commit(
        &*s.muc,
        vec![
            save("b", RoomConfig::default()),
            save("hidden", private),
            save("a", temporary),
        ],
    )
    .await;
    assert_eq!(s.muc.room_names().await.unwrap(), ["a", "b", "hidden"]);
    commit(&*s.muc, vec![StoreOp::DestroyRoom { room: "b".into() }]).await;
    assert_eq!(s.muc.room_names().await.unwrap(), ["a", "hidden"]);
}

pub async fn max_archive_id_spans_every_room(open: impl Opener) {
    let s = open.open(10).await;
    assert_eq!(s.muc.max_archive_id().await.unwrap(), 0);
    commit(
        &*s.muc,
        vec![
            save("a", RoomConfig::default()),
            save("b", RoomConfig::default()),
            StoreOp::Archive(msg("a", 500, "x@localhost")),
            StoreOp::Archive(msg("b", 900, "x@localhost")),
            StoreOp::Archive(msg("a", 700, "x@localhost")),
        ],
    )
    .await;
    assert_eq!(s.muc.max_archive_id().await.unwrap(), 900);
}

pub async fn destroying_a_room_removes_everything_of_it_only(open: impl Opener) {
    let s = open.open(10).await;
    let mut ops = Vec::new();
    for room in ["doomed", "kept"] {
        ops.push(save(room, RoomConfig::default()));
        ops.push(owner(room, "alice@localhost"));
        ops.push(sub(room, "bob@localhost", "bob", &[MESSAGES]));
        ops.push(StoreOp::Archive(msg(
            room,
            if room == "kept" { 5 } else { 6 },
            "a@localhost",
        )));
    }
    commit(&*s.muc, ops).await;
    commit(
        &*s.muc,
        vec![StoreOp::DestroyRoom {
            room: "doomed".into(),
        }],
    )
    .await;
    assert!(s.muc.load_room("doomed", 10).await.unwrap().is_none());
    let all = crate::muc::mam::query::ArchiveQuery {
        max: 10,
        ..Default::default()
    };
    let page = s.muc.archive_page("doomed", &all).await.unwrap().unwrap();
    assert_eq!((page.count, page.items.len()), (Some(0), 0));
    assert_eq!(s.muc.archive_bounds("doomed").await.unwrap().end, None);
    assert_eq!(s.muc.rooms_owned_by("alice@localhost").await.unwrap(), 1);
    let subs = s.muc.subscriptions_of("bob@localhost").await.unwrap();
    assert_eq!(
        subs.iter().map(|x| x.room.as_str()).collect::<Vec<_>>(),
        ["kept"]
    );
    let (kept, history) = s.muc.load_room("kept", 10).await.unwrap().unwrap();
    assert_eq!((kept.subscriptions.len(), history.len()), (1, 1));
    // A room of the same name starts empty.
    commit(&*s.muc, vec![save("doomed", RoomConfig::default())]).await;
    let (again, history) = s.muc.load_room("doomed", 10).await.unwrap().unwrap();
    assert!(again.affiliations.is_empty() && again.subscriptions.is_empty() && history.is_empty());
    assert_eq!(
        s.muc
            .archive_page("doomed", &all)
            .await
            .unwrap()
            .unwrap()
            .count,
        Some(0)
    );
}

pub async fn stale_temporary_rooms_go_unless_subscribed(open: impl Opener) {
    let s = open.open(10).await;
    let temp = RoomConfig {
        persistent: false,
        ..RoomConfig::default()
    };
    commit(
        &*s.muc,
        vec![
            save("t2", temp.clone()),
            save("t1", temp.clone()),
            save("t3", temp),
            save("kept", RoomConfig::default()),
            sub("t2", "bob@localhost", "bob", &[]),
            StoreOp::Archive(msg("t1", 1, "a@localhost")),
        ],
    )
    .await;
    assert_eq!(
        s.muc.drop_stale_temporary_rooms().await.unwrap(),
        ["t1", "t3"]
    );
    assert!(s.muc.load_room("t1", 10).await.unwrap().is_none());
    assert!(s.muc.load_room("t2", 10).await.unwrap().is_some());
    assert!(s.muc.load_room("kept", 10).await.unwrap().is_some());
    assert!(s.muc.drop_stale_temporary_rooms().await.unwrap().is_empty());
}

pub async fn subscriptions_of_deleted_accounts_are_purged(open: impl Opener) {
    let s = open.open(10).await;
    s.accounts.create("alive", creds("pw")).await.unwrap();
    commit(
        &*s.muc,
        vec![
            save("r", RoomConfig::default()),
            sub("r", "alive@localhost", "a", &[]),
            sub("r", "gone@localhost", "g", &[]),
            // Another server's accounts are not this server's to judge.
            sub("r", "gone@elsewhere.example", "e", &[]),
        ],
    )
    .await;
    assert_eq!(s.muc.purge_deleted_accounts("localhost").await.unwrap(), 1);
    let (room, _) = s.muc.load_room("r", 0).await.unwrap().unwrap();
    assert_eq!(
        subscribers(&room),
        [("alive@localhost", "a"), ("gone@elsewhere.example", "e")]
    );
    assert_eq!(s.muc.purge_deleted_accounts("localhost").await.unwrap(), 0);
}

/// Dedup by origin-id on `store`, using ids from `base` (also run on a migrated SQLite
/// database).
pub async fn dedup_by_origin_id_on(store: &dyn MucStore, base: i64) {
    let with_origin = |id: i64, sender: &str, origin: Option<&str>| {
        let mut m = msg("d", id, sender);
        m.origin_id = origin.map(str::to_owned);
        m
    };
    let first = with_origin(base + 1, "a@localhost", Some("o-1"));
    commit(
        store,
        vec![
            save("d", RoomConfig::default()),
            StoreOp::Archive(first.clone()),
        ],
    )
    .await;
    // Resent: refused, and the stored message reported; a new message in the same batch
    // still goes in.
    let done = store
        .commit(vec![
            StoreOp::Archive(with_origin(base + 2, "a@localhost", Some("o-1"))),
            StoreOp::Archive(with_origin(base + 3, "a@localhost", Some("o-2"))),
        ])
        .await
        .unwrap();
    assert_eq!(done.duplicates.len(), 1);
    assert_eq!(done.duplicates[0].attempted, base + 2);
    assert_eq!(done.duplicates[0].stored, first);
    // Another sender may use the same origin-id; no origin-id never conflicts.
    commit(
        store,
        vec![
            StoreOp::Archive(with_origin(base + 4, "b@localhost", Some("o-1"))),
            StoreOp::Archive(with_origin(base + 5, "a@localhost", None)),
            StoreOp::Archive(with_origin(base + 6, "a@localhost", None)),
        ],
    )
    .await;
    let all = crate::muc::mam::query::ArchiveQuery {
        max: 100,
        ..Default::default()
    };
    let page = store.archive_page("d", &all).await.unwrap().unwrap();
    let ids: Vec<i64> = page.items.iter().map(|i| i.id).collect();
    assert_eq!(ids, [1, 3, 4, 5, 6].map(|k| base + k));
    assert_eq!(page.count, Some(5), "the refused message is not counted");
}

pub async fn origin_ids_deduplicate_per_room_and_sender(open: impl Opener) {
    let s = open.open(10).await;
    dedup_by_origin_id_on(&*s.muc, 1000).await;
    // The same sender and origin-id in another room is another message.
    let mut m = msg("other", 2000, "a@localhost");
    m.origin_id = Some("o-1".into());
    commit(
        &*s.muc,
        vec![save("other", RoomConfig::default()), StoreOp::Archive(m)],
    )
    .await;
}

pub async fn join_history_is_the_newest_oldest_first(open: impl Opener) {
    let s = open.open(10).await;
    let mut ops = vec![
        save("h", RoomConfig::default()),
        save("x", RoomConfig::default()),
    ];
    ops.extend((1..=30).map(|i| StoreOp::Archive(msg("h", i * 10, "a@localhost"))));
    ops.push(StoreOp::Archive(msg("x", 1000, "a@localhost")));
    commit(&*s.muc, ops).await;
    let (_, history) = s.muc.load_room("h", 5).await.unwrap().unwrap();
    let ids: Vec<i64> = history.iter().map(|i| i.id).collect();
    assert_eq!(ids, [260, 270, 280, 290, 300]);
    assert_eq!(history[4].stamp_us, 300_000);
    assert!(history[4].stanza.contains("<body>300</body>"));
    let (_, none) = s.muc.load_room("h", 0).await.unwrap().unwrap();
    assert!(none.is_empty());
}
