//! Room ownership on PostgreSQL (`storage::ownership`): claims race to one owner, a stale
//! fence commits nothing, leases end by time, by release, by a clean leave and by a newer
//! incarnation of the same node, and the archive's id floor and epochs follow the owners.
//! Each test has a fresh database on the testkit's private PostgreSQL server.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use mucsub_server::storage::{
    postgres, ArchivedMsg, Claim, Fence, LostOwnership, Renewal, RoomOwnership, Storage, StoreOp,
};
use mucsub_server::testkit::postgres::{shared, PgDatabase};

const TTL: Duration = Duration::from_secs(30);

async fn node(db: &PgDatabase) -> Storage {
    postgres::open(&db.url, 10)
        .await
        .expect("PostgreSQL storage")
}

fn own(s: &Storage) -> Arc<dyn RoomOwnership> {
    s.ownership.clone().expect("PostgreSQL has room ownership")
}

async fn query_i64(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn version(url: &str, component: &str) -> i64 {
    let sql = format!("SELECT version FROM schema_versions WHERE component = '{component}'");
    query_i64(url, &sql).await
}

fn msg(room: &str, id: i64, origin: &str) -> StoreOp {
    StoreOp::Archive(ArchivedMsg {
        id,
        room: room.into(),
        stamp_us: id,
        nick: "n".into(),
        sender: "a@localhost".into(),
        origin_id: Some(origin.into()),
        client_id: Some(origin.into()),
        stanza: format!("<message><body>{id}</body></message>"),
    })
}

async fn owned(o: &dyn RoomOwnership, room: &str, incarnation: i64) -> (Fence, i64) {
    match o.claim(room, incarnation).await.expect("claim") {
        Claim::Owned { fence, last_id, .. } => (fence, last_id),
        other => panic!("expected to own {room}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hundred_concurrent_first_claims_have_one_owner() {
    let db = shared().fresh_database().await;
    // Four nodes, each with its own pool and incarnation, 25 claims each, all at once.
    let mut nodes = Vec::new();
    for i in 0..4 {
        let s = node(&db).await;
        let inc = own(&s).join(&format!("node{i}"), TTL).await.unwrap();
        nodes.push((own(&s), inc, s));
    }
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let mut claims = Vec::new();
    for (o, inc, _) in &nodes {
        for _ in 0..25 {
            let (o, inc, start) = (o.clone(), *inc, start.clone());
            claims.push(tokio::spawn(async move {
                start.wait().await;
                (inc, o.claim("race", inc).await.expect("claim answers"))
            }));
        }
    }
    let mut owners = HashSet::new();
    let mut holders = HashSet::new();
    let mut won = 0;
    for c in claims {
        match c.await.unwrap() {
            (inc, Claim::Owned { fence, .. }) => {
                assert_eq!(fence.incarnation, inc);
                owners.insert((fence.incarnation, fence.epoch));
                won += 1;
            }
            (_, Claim::Held { incarnation, .. }) => {
                holders.insert(incarnation);
            }
        }
    }
    assert_eq!(owners.len(), 1, "one owner at one epoch: {owners:?}");
    let (winner, epoch) = owners.into_iter().next().unwrap();
    assert_eq!(epoch, 1, "the first claim's epoch");
    assert_eq!(won, 25, "the winner's own claims keep its epoch");
    assert_eq!(
        holders,
        HashSet::from([winner]),
        "everyone else sees the winner"
    );
    let stored = own(&nodes[0].2).owner("race").await.unwrap().unwrap();
    assert_eq!((stored.incarnation, stored.epoch), (Some(winner), 1));
}

#[tokio::test]
async fn a_stale_epoch_commits_nothing_after_a_takeover() {
    let db = shared().fresh_database().await;
    let (a, b) = (node(&db).await, node(&db).await);
    let ia = own(&a).join("a", TTL).await.unwrap();
    let ib = own(&b).join("b", TTL).await.unwrap();
    let (fa, floor) = owned(&*own(&a), "r", ia).await;
    assert_eq!((fa.epoch, floor), (1, 0));
    a.muc
        .commit_as(Some(&fa), vec![msg("r", 1_000, "m1")])
        .await
        .expect("the owner commits");
    // A live owner keeps the room.
    assert!(matches!(
        own(&b).claim("r", ib).await.unwrap(),
        Claim::Held { ref node, incarnation } if node == "a" && incarnation == ia
    ));
    // A's lease ends (as when it is paused past its TTL); B takes the room at epoch 2,
    // with the room's newest id as its floor.
    own(&a).leave(ia).await.unwrap();
    let (fb, floor) = owned(&*own(&b), "r", ib).await;
    assert_eq!((fb.epoch, floor), (2, 1_000));
    let e = a
        .muc
        .commit_as(Some(&fa), vec![msg("r", 2_000, "m2")])
        .await
        .expect_err("the old owner is fenced out");
    let lost = e.downcast_ref::<LostOwnership>().expect("a LostOwnership");
    assert_eq!(lost.0, fa);
    // The quota commit of a room creation is fenced as well.
    let e = a
        .muc
        .commit_within_room_quota(Some(&fa), "x@localhost", 10, vec![msg("r", 2_001, "m3")])
        .await
        .expect_err("fenced");
    assert!(e.is::<LostOwnership>(), "{e:#}");
    b.muc
        .commit_as(Some(&fb), vec![msg("r", 1_001, "m4")])
        .await
        .expect("the new owner commits");
    let rows = |sql: &'static str| query_i64(&db.url, sql);
    assert_eq!(rows("SELECT COUNT(*) FROM muc_archive").await, 2);
    assert_eq!(
        rows("SELECT COUNT(*) FROM muc_archive WHERE epoch = 1 AND id = 1000").await,
        1
    );
    assert_eq!(
        rows("SELECT COUNT(*) FROM muc_archive WHERE epoch = 2 AND id = 1001").await,
        1
    );
    // Nor can A take it back under its ended incarnation.
    assert!(matches!(
        own(&a).claim("r", ia).await.unwrap(),
        Claim::Held { incarnation, .. } if incarnation == ib
    ));
}

#[tokio::test]
async fn an_expired_lease_fences_its_rooms_and_is_never_renewed() {
    let db = shared().fresh_database().await;
    let s = node(&db).await;
    let o = own(&s);
    let short = Duration::from_millis(50);
    let inc = o.join("a", short).await.unwrap();
    let (fence, _) = owned(&*o, "r", inc).await;
    // Past the lease on the database's clock (no other node claimed the room meanwhile).
    tokio::time::sleep(short * 4).await;
    let e = s
        .muc
        .commit_as(Some(&fence), vec![msg("r", 10, "m")])
        .await
        .expect_err("an expired lease commits nothing");
    assert!(e.is::<LostOwnership>(), "{e:#}");
    assert_eq!(o.renew(inc, TTL).await.unwrap(), Renewal::Expired);
    // The next incarnation takes its rooms at the next epoch.
    let again = o.join("a", TTL).await.unwrap();
    let (f2, _) = owned(&*o, "r", again).await;
    assert_eq!(f2.epoch, 2);
    assert_eq!(o.renew(again, TTL).await.unwrap(), Renewal::Renewed);
    assert_eq!(
        query_i64(&db.url, "SELECT COUNT(*) FROM muc_archive").await,
        0
    );
}

#[tokio::test]
async fn a_restarted_node_supersedes_its_earlier_incarnation() {
    let db = shared().fresh_database().await;
    let s = node(&db).await;
    let o = own(&s);
    let old = o.join("a", TTL).await.unwrap();
    let (f1, _) = owned(&*o, "r", old).await;
    let new = o.join("a", TTL).await.unwrap();
    let (f2, _) = owned(&*o, "r", new).await;
    assert_eq!(f2.epoch, f1.epoch + 1);
    assert_eq!(o.renew(old, TTL).await.unwrap(), Renewal::Superseded);
    let e = s.muc.commit_as(Some(&f1), vec![msg("r", 5, "m")]).await;
    assert!(e.expect_err("fenced").is::<LostOwnership>());
}

#[tokio::test]
async fn a_released_room_is_claimed_at_once_and_a_stale_release_does_nothing() {
    let db = shared().fresh_database().await;
    let (a, b) = (node(&db).await, node(&db).await);
    let ia = own(&a).join("a", TTL).await.unwrap();
    let ib = own(&b).join("b", TTL).await.unwrap();
    a.muc
        .commit(vec![StoreOp::SaveRoom {
            name: "r".into(),
            config: Default::default(),
        }])
        .await
        .unwrap();
    let (fa, _) = owned(&*own(&a), "r", ia).await;
    own(&a).release(&fa).await.unwrap();
    let (fb, _) = owned(&*own(&b), "r", ib).await;
    assert_eq!(fb.epoch, 2);
    // A's release of its old fence leaves B's ownership alone.
    own(&a).release(&fa).await.unwrap();
    let o = own(&a).owner("r").await.unwrap().unwrap();
    assert_eq!((o.incarnation, o.epoch, o.live), (Some(ib), 2, true));
    // A claim by the owner again keeps the epoch.
    assert_eq!(owned(&*own(&b), "r", ib).await.0, fb);
    // A room that does not exist leaves nothing behind once released.
    let (ghost, _) = owned(&*own(&a), "ghost", ia).await;
    own(&a).release(&ghost).await.unwrap();
    assert_eq!(own(&a).owner("ghost").await.unwrap(), None);
}

#[tokio::test]
async fn sqlite_takes_no_fence() {
    let s = mucsub_server::storage::sqlite::open_in_memory(10)
        .await
        .unwrap();
    assert!(s.ownership.is_none(), "one node owns every room");
    let fence = Fence {
        room: "r".into(),
        incarnation: 1,
        epoch: 1,
    };
    assert!(s
        .muc
        .commit_as(Some(&fence), vec![msg("r", 1, "m")])
        .await
        .is_err());
    s.muc.commit(vec![msg("r", 1, "m")]).await.unwrap();
}

/// The `muc` tables' third migration (the archive's `epoch`) and the `cluster` tables on
/// a database a build before them left: old rows keep a NULL epoch, new fenced rows record
/// theirs.
#[tokio::test]
async fn migrates_a_database_from_before_the_cluster_tables() {
    let db = shared().fresh_database().await;
    drop(node(&db).await);
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // Back to what the previous build made.
    client
        .batch_execute(
            "ALTER TABLE muc_archive DROP COLUMN epoch;
             UPDATE schema_versions SET version = 2 WHERE component = 'muc';
             DROP TABLE cluster_sessions;
             DROP TABLE cluster_rooms; DROP TABLE cluster_incarnations;
             DROP FUNCTION cluster_fence;
             DELETE FROM schema_versions WHERE component = 'cluster';
             INSERT INTO muc_archive(room, id, stamp_us, nick, sender, stanza)
                VALUES ('r', 7, 7, 'n', 'a@localhost', '<message/>');",
        )
        .await
        .unwrap();
    let s = node(&db).await;
    assert_eq!(version(&db.url, "muc").await, 3);
    // Ownership, the session directory, then the leases' TTLs (a dead owner's tail).
    assert_eq!(version(&db.url, "cluster").await, 3);
    let inc = own(&s).join("a", TTL).await.unwrap();
    let (fence, _) = owned(&*own(&s), "r", inc).await;
    s.muc
        .commit_as(Some(&fence), vec![msg("r", 8, "m")])
        .await
        .unwrap();
    assert_eq!(
        query_i64(
            &db.url,
            "SELECT COUNT(*) FROM muc_archive WHERE (id = 7 AND epoch IS NULL) OR (id = 8 AND epoch = 1)"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_starting_node_sweeps_no_temporary_room_a_live_node_serves() {
    let db = shared().fresh_database().await;
    let (a, b) = (node(&db).await, node(&db).await);
    let temp = mucsub_server::muc::config_form::RoomConfig {
        persistent: false,
        ..Default::default()
    };
    let save = |name: &str| StoreOp::SaveRoom {
        name: name.into(),
        config: temp.clone(),
    };
    a.muc
        .commit(vec![save("served"), save("left")])
        .await
        .unwrap();
    let ia = own(&a).join("a", TTL).await.unwrap();
    owned(&*own(&a), "served", ia).await;
    // B starting: "left" had its occupants on a process that is gone; "served" is A's.
    assert_eq!(b.muc.drop_stale_temporary_rooms().await.unwrap(), ["left"]);
    own(&a).leave(ia).await.unwrap();
    assert_eq!(
        b.muc.drop_stale_temporary_rooms().await.unwrap(),
        ["served"]
    );
}

/// A claim that takes a room from an owner whose lease ran out carries what that owner
/// archived in its last moments (it may have died before sending it), not its older
/// messages; the owner claiming its own room again gets none.
#[tokio::test]
async fn a_takeover_carries_the_dead_owners_last_messages() {
    let db = shared().fresh_database().await;
    let s = node(&db).await;
    let o = own(&s);
    let a = o.join("a", Duration::from_secs(1)).await.unwrap();
    let (fence, _) = owned(&*o, "r", a).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    // A minute before the last: long before the lease's last renewal.
    let old = now - 60_000_000;
    s.muc
        .commit_as(
            Some(&fence),
            vec![msg("r", old, "old"), msg("r", now, "last")],
        )
        .await
        .unwrap();
    let (again, _) = owned(&*o, "r", a).await;
    assert_eq!(again, fence);
    match o.claim("r", a).await.unwrap() {
        Claim::Owned { tail, .. } => assert!(tail.is_empty(), "{tail:?}"),
        other => panic!("expected to own r, got {other:?}"),
    }
    // A dies: once its lease has run out, B takes the room with A's last message.
    while o.owner("r").await.unwrap().unwrap().live {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let b = o.join("b", TTL).await.unwrap();
    match o.claim("r", b).await.unwrap() {
        Claim::Owned { fence, tail, .. } => {
            assert_eq!(fence.epoch, 2);
            let ids: Vec<i64> = tail.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, vec![now], "the last message only");
            assert!(tail[0].1.contains(&format!("<body>{now}</body>")));
        }
        other => panic!("expected to own r, got {other:?}"),
    }
}
