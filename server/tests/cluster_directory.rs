//! The session directory on PostgreSQL (`storage::directory`): lookups see only live
//! incarnations, and storing offline is refused while the account is reachable on
//! another node — decided under the account's transaction lock, which also closes the
//! "store offline while the user logs in elsewhere" race: the two transactions take the
//! same lock, so the store sees the login or the login's queue read sees the row.

use std::sync::Arc;
use std::time::Duration;

use mucsub_server::storage::{
    postgres, DirectoryOffline, RoomOwnership, SessionDirectory, Storage,
};
use mucsub_server::testkit::postgres::{shared, PgDatabase};

async fn node(db: &PgDatabase) -> Storage {
    postgres::open(&db.url, 2)
        .await
        .expect("PostgreSQL storage")
}

fn parts(s: &Storage) -> (Arc<dyn RoomOwnership>, Arc<dyn SessionDirectory>) {
    (s.ownership.clone().unwrap(), s.directory.clone().unwrap())
}

#[tokio::test]
async fn offline_storage_waits_for_no_reachable_session_elsewhere() {
    let db = shared().fresh_database().await;
    let s = node(&db).await;
    let (own, dir) = parts(&s);
    let a = own.join("a", Duration::from_secs(30)).await.unwrap();
    let b = own.join("b", Duration::from_secs(30)).await.unwrap();

    // Bound on B but not available yet: A may store.
    dir.bind("carol", "phone", b).await.unwrap();
    assert_eq!(dir.nodes_of("carol", None, a).await.unwrap(), vec![b]);
    assert_eq!(
        dir.nodes_of("carol", Some("phone"), a).await.unwrap(),
        vec![b]
    );
    assert!(dir
        .nodes_of("carol", Some("desk"), a)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        dir.store_offline("carol", a, "<message/>".into())
            .await
            .unwrap(),
        DirectoryOffline::Stored
    );
    // Reachable on B: A stores nothing (it delivers there instead).
    dir.set_reachable("carol", "phone", b, true).await.unwrap();
    assert_eq!(
        dir.store_offline("carol", a, "<message/>".into())
            .await
            .unwrap(),
        DirectoryOffline::Reachable
    );
    assert_eq!(s.offline.count("carol").await.unwrap(), 1);
    // B itself, asking for its own account, is not told to deliver to itself.
    assert_eq!(
        dir.store_offline("carol", b, "<message/>".into())
            .await
            .unwrap(),
        DirectoryOffline::Stored
    );
    // The queue's bound (2 here) holds on this path too.
    dir.set_reachable("carol", "phone", b, false).await.unwrap();
    assert_eq!(
        dir.store_offline("carol", a, "<message/>".into())
            .await
            .unwrap(),
        DirectoryOffline::Full
    );

    // B's lease over (it died): its bindings no longer count.
    dir.set_reachable("carol", "phone", b, true).await.unwrap();
    own.leave(b).await.unwrap();
    assert!(dir.nodes_of("carol", None, a).await.unwrap().is_empty());
    s.offline
        .remove(
            "carol",
            s.offline
                .peek("carol")
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(
        dir.store_offline("carol", a, "<message/>".into())
            .await
            .unwrap(),
        DirectoryOffline::Stored
    );
    // Unbound: gone from the directory.
    dir.bind("carol", "desk", a).await.unwrap();
    dir.unbind("carol", "desk", a).await.unwrap();
    let c = own.join("c", Duration::from_secs(30)).await.unwrap();
    assert!(dir.nodes_of("carol", None, c).await.unwrap().is_empty());
}

/// Logins and offline stores of one account from two nodes at once: whatever the
/// interleaving, nothing is stored once the login's queue read happened, or the read sees
/// it. Checked as "every stored message was either read by a login that started after
/// it, or stored before the account was reachable".
#[tokio::test]
async fn a_login_elsewhere_and_an_offline_store_never_both_miss() {
    let db = shared().fresh_database().await;
    let (sa, sb) = (node(&db).await, node(&db).await);
    let (own, _) = parts(&sa);
    let a = own.join("a", Duration::from_secs(30)).await.unwrap();
    let b = own.join("b", Duration::from_secs(30)).await.unwrap();
    let (dir_a, dir_b) = (sa.directory.clone().unwrap(), sb.directory.clone().unwrap());
    for round in 0..100 {
        let user = format!("u{round}");
        dir_b.bind(&user, "r", b).await.unwrap();
        let store = {
            let (dir, user) = (dir_a.clone(), user.clone());
            tokio::spawn(async move { dir.store_offline(&user, a, "<message/>".into()).await })
        };
        // B's login: reachable first, then the queue is read.
        dir_b.set_reachable(&user, "r", b, true).await.unwrap();
        let read = sb.offline.peek(&user).await.unwrap().len();
        let stored = store.await.unwrap().unwrap();
        let left = sa.offline.count(&user).await.unwrap() as usize;
        match stored {
            // Stored: the login's read must have seen it (it stored before the login).
            DirectoryOffline::Stored => assert_eq!((read, left), (1, 1), "round {round}"),
            // Refused: the sender delivers to B's session instead; nothing stored.
            DirectoryOffline::Reachable => assert_eq!((read, left), (0, 0), "round {round}"),
            DirectoryOffline::Full => panic!("round {round}: queue full"),
        }
    }
}
