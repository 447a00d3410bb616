//! Issue 19, item 8: the native SDK client connected to node C resyncs exactly after the
//! room's owner, node A, dies. Three real server processes on one PostgreSQL database and
//! one real `nats-server` (both started here; a missing binary fails the test).
//!
//! Alice creates the room on A (A owns it); carol's SDK client on C subscribes through C;
//! bob, a subscriber on B, keeps posting (each message with an origin-id, resent until the
//! room echoes it). A is killed (-9) in the middle of bob's run; the room is claimed again
//! by a survivor at the next epoch and bob goes on. Afterwards carol's store holds every
//! message bob got an echo for, once each, in order, under the archive's stanza-ids.

mod cluster_support;
mod sdk_support;
#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;

use cluster_support::{connect, post_until_echoed, rows, spawn};
use mucsub::client::{ClientConfig, Command};
use mucsub::native::{Endpoint, NativeClient};
use mucsub::store::{MemoryStore, Store};
use mucsub_server::testkit::nats::NatsServer;
use mucsub_server::testkit::postgres::shared;
use mucsub_server::testkit::ChildServer;
use sdk_support::{body, bounded};
use support::*;

/// Messages bob posts; A dies after the first `KILL_AT` are echoed.
const MESSAGES: usize = 24;
const KILL_AT: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_client_on_c_resyncs_exactly_after_the_owner_dies() {
    bounded(async {
        let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
        let db = shared().fresh_database().await;
        let nats = NatsServer::start().await;
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let a = spawn(bin, dirs[0].path(), "a", &db.url, &nats.url(), 2).await;
        let b = spawn(bin, dirs[1].path(), "b", &db.url, &nats.url(), 2).await;
        let c = spawn(bin, dirs[2].path(), "c", &db.url, &nats.url(), 2).await;
        for u in ["alice", "bob", "carol"] {
            ChildServer::add_user(bin, dirs[0].path(), u, "pw").await;
        }
        let r = room("failover");

        // Node A creates and owns the room.
        let mut alice = connect(&a, "alice").await;
        subscribe(&mut alice, &r, "alice").await;
        join(&mut alice, &r, "alice").await;
        let owner = rows(
            &db.url,
            "SELECT n.node FROM cluster_rooms r JOIN cluster_incarnations n USING (incarnation)
             WHERE r.room = 'failover'",
        )
        .await;
        assert_eq!(owner[0].get::<_, String>(0), "a", "A owns the room");

        // Carol's SDK client on C subscribes through C (forwarded to A).
        let store = MemoryStore::new();
        let endpoint = Endpoint::Tcp(c.c2s_addr.to_string());
        let mut carol = NativeClient::new(config("carol"), endpoint, store.clone())
            .await
            .expect("client");
        carol.connect().await.expect("connect");
        carol.wait_synced().await.expect("initial sync");
        carol
            .command(Command::subscribe(r.as_str(), "carol"))
            .await
            .unwrap()
            .unwrap();
        carol.wait_synced().await.unwrap();

        // Bob, a subscriber on B, posts without joining; A dies in the middle of his run.
        let mut bob = connect(&b, "bob").await;
        subscribe(&mut bob, &r, "bob").await;
        let mut ids: Vec<i64> = Vec::new();
        let mut a = Some(a);
        for n in 0..MESSAGES {
            if n == KILL_AT {
                // The message goes out first, so A may die with it in flight.
                bob.send(&format!(
                    "<message to='{r}' type='groupchat' id='o-{n}'><body>m {n}</body>\
                     <origin-id xmlns='{SID}' id='o-{n}'/></message>"
                ))
                .await;
                a.take().expect("A runs").kill9().await;
            }
            let id =
                post_until_echoed(&mut bob, &r, &format!("m {n}"), &format!("o-{n}"), &ids).await;
            ids.push(id);
        }

        // The archive: each echoed message once, ids rising, one epoch more after the kill.
        let archive = rows(
            &db.url,
            "SELECT id, epoch FROM muc_archive WHERE room = 'failover' ORDER BY id",
        )
        .await;
        let archived: Vec<i64> = archive.iter().map(|row| row.get(0)).collect();
        assert_eq!(
            archived, ids,
            "every echoed message archived once, in order"
        );
        let epochs: Vec<Option<i64>> = archive.iter().map(|row| row.get(1)).collect();
        // Whether A committed the in-flight message before dying (then its fanout may
        // have been cut, and only the resync brings it to carol).
        let on_a = epochs.iter().filter(|e| **e == Some(1)).count();
        eprintln!("resync: {on_a} of {MESSAGES} messages committed by A (killed after {KILL_AT})");
        let mut distinct = epochs.clone();
        distinct.dedup();
        assert_eq!(distinct, vec![Some(1), Some(2)], "{epochs:?}");

        // Carol's client goes away and comes back through C: its store is the archive.
        carol.wait_synced().await.unwrap();
        carol.disconnect().await.unwrap();
        carol.connect().await.unwrap();
        carol.wait_synced().await.unwrap();
        let stored = store.events(&r, 10_000).await.unwrap();
        let messages: Vec<_> = stored.iter().filter(|e| body(e).is_some()).collect();
        let bodies: Vec<&str> = messages.iter().filter_map(|e| body(e)).collect();
        let expected: Vec<String> = (0..MESSAGES).map(|n| format!("m {n}")).collect();
        assert_eq!(bodies, expected, "every echoed message once, in order");
        let stored_ids: Vec<i64> = messages
            .iter()
            .map(|e| e.stanza_id.as_deref().expect("stanza-id").parse().unwrap())
            .collect();
        assert_eq!(stored_ids, ids, "the archive's stanza-ids");
        let state = store.room_state(&r).await.unwrap();
        assert!(state.gaps.is_empty(), "{:?}", state.gaps);

        drop(alice);
        b.kill9().await;
        c.kill9().await;
    })
    .await;
}

fn config(user: &str) -> ClientConfig {
    sdk_support::config(user, "sdk")
}
