//! Issue 19, item 4: the owner of a room killed (-9) under load, over several seeded
//! rounds, with three real nodes on one PostgreSQL database and one `nats-server` (both
//! started here; a missing binary fails the test).
//!
//! Each round: bob posts through a node that does not own the room (each message with an
//! origin-id, resent until echoed); after a seeded number of messages one more goes out
//! and the owner is killed with it in flight, then restarted as a new incarnation; bob
//! goes on until the room answers again (bounded by a generous timeout, not timed).
//! Carol, a subscriber on another surviving node, collects every event she gets.
//! Afterwards: every echoed message is archived exactly once, in order; carol's live and
//! offline events ∪ her MAM walk equal the archive (a repeat only under the same
//! stanza-id), and her live and offline events alone hold every echoed message (she is
//! online through every takeover); the epoch rose by exactly one per kill; and, ids in order, no row is under
//! an older epoch than the one before it (nothing committed under an old epoch after a
//! takeover).
//!
//! Rounds: `MUCSUB_CHAOS_ROUNDS` (default the 10, about 3 s each on 2 cores),
//! seed `MUCSUB_CHAOS_SEED` (printed, so a failing round can be replayed).

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use cluster_support::{connect, env_u64, post_until_echoed, rows, spawn, Rng};
use minidom::Element;
use mucsub_server::testkit::nats::NatsServer;
use mucsub_server::testkit::postgres::shared;
use mucsub_server::testkit::{ChildServer, RawClient, TIMEOUT};
use support::*;

const NODES: [&str; 3] = ["a", "b", "c"];

/// The room's owner node and epoch.
async fn owner(url: &str) -> (String, i64) {
    let got = rows(
        url,
        "SELECT n.node, r.epoch FROM cluster_rooms r
         JOIN cluster_incarnations n USING (incarnation) WHERE r.room = 'chaos'",
    )
    .await;
    (got[0].get(0), got[0].get(1))
}

/// The (stanza-id, body) of every `messages` event among `got`.
fn events(got: &[Element]) -> Vec<(i64, String)> {
    got.iter()
        .filter_map(unwrap_event)
        .filter(|(node, _, _)| node == "messages")
        .filter_map(|(_, _, inner)| {
            let text = inner.get_child("body", CLIENT)?.text();
            Some((stanza_id(&inner)?.parse().ok()?, text))
        })
        .collect()
}

/// Carol's archive walk through her node: (id, body) in order.
async fn mam(c: &mut RawClient, r: &str) -> Vec<(i64, String)> {
    let id = c.next_id();
    c.send(&format!(
        "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}'><set xmlns='http://jabber.org/protocol/rsm'><max>1000</max></set></query></iq>"
    ))
    .await;
    let mut walked = Vec::new();
    loop {
        let el = c.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            assert_result(&el);
            return walked;
        }
        if let Some(res) = el.get_child("result", MAM) {
            let msg = res
                .get_child("forwarded", "urn:xmpp:forward:0")
                .and_then(|f| f.get_child("message", CLIENT))
                .expect("forwarded message");
            let text = msg
                .get_child("body", CLIENT)
                .map(|b| b.text())
                .unwrap_or_default();
            walked.push((res.attr("id").unwrap().parse().unwrap(), text));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_owner_under_load_loses_nothing_echoed() {
    let rounds = env_u64("MUCSUB_CHAOS_ROUNDS", 10) as usize;
    let seed = env_u64("MUCSUB_CHAOS_SEED", 0x19c4a05) | 1;
    eprintln!("chaos: {rounds} rounds, MUCSUB_CHAOS_SEED={seed}");
    // The lease TTL: 1 s here; bench/failover.sh runs the rounds at 1, 2 and 3 s.
    let ttl = env_u64("MUCSUB_CHAOS_TTL", 1) as u32;
    let mut rng = Rng(seed);
    tokio::time::timeout(TIMEOUT * (6 + (1 + ttl) * rounds as u32), async {
        let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
        let db = shared().fresh_database().await;
        let nats = NatsServer::start().await;
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut nodes: Vec<Option<ChildServer>> = Vec::new();
        for (i, n) in NODES.iter().enumerate() {
            nodes.push(Some(
                spawn(bin, dirs[i].path(), n, &db.url, &nats.url(), ttl).await,
            ));
        }
        for u in ["alice", "bob", "carol"] {
            ChildServer::add_user(bin, dirs[0].path(), u, "pw").await;
        }
        let r = room("chaos");

        // Node A creates the room; bob and carol subscribe (bob posts without joining).
        let mut alice = connect(nodes[0].as_ref().unwrap(), "alice").await;
        join(&mut alice, &r, "alice").await;
        alice.close().await;
        let mut bob = connect(nodes[1].as_ref().unwrap(), "bob").await;
        subscribe(&mut bob, &r, "bob").await;
        let mut carol = connect(nodes[2].as_ref().unwrap(), "carol").await;
        subscribe(&mut carol, &r, "carol").await;
        let (mut bob_at, mut carol_at) = (1usize, 2usize);

        let mut echoed: Vec<i64> = Vec::new();
        let mut seen: Vec<(i64, String)> = Vec::new();
        let mut epoch = owner(&db.url).await.1;
        let mut n = 0usize;
        for round in 0..rounds {
            let (own, e) = owner(&db.url).await;
            assert_eq!(e, epoch, "round {round}: no takeover without a kill");
            let own = NODES.iter().position(|x| *x == own).unwrap();
            // Bob and carol on nodes that survive this round.
            let others: Vec<usize> = (0..3).filter(|i| *i != own).collect();
            let to = others[rng.below(2) as usize];
            if bob_at == own || to != bob_at {
                bob.close().await;
                bob = connect(nodes[to].as_ref().unwrap(), "bob").await;
                bob_at = to;
            }
            if carol_at == own {
                seen.extend(events(&carol.drain_for(Duration::from_millis(300)).await));
                carol.close().await;
                carol_at = others[rng.below(2) as usize];
                let mut c = connect(nodes[carol_at].as_ref().unwrap(), "carol").await;
                // Whatever waited offline for her arrives now (drained with the rest).
                seen.extend(events(&c.drain_for(Duration::from_millis(300)).await));
                carol = c;
            }
            let before = 1 + rng.below(6) as usize;
            for _ in 0..before {
                let body = format!("m {n}");
                echoed
                    .push(post_until_echoed(&mut bob, &r, &body, &format!("o-{n}"), &echoed).await);
                n += 1;
            }
            // One more in flight, and the owner dies with it.
            bob.send(&format!(
                "<message to='{r}' type='groupchat' id='o-{n}'><body>m {n}</body>\
                 <origin-id xmlns='{SID}' id='o-{n}'/></message>"
            ))
            .await;
            let killed = std::time::Instant::now();
            nodes[own].take().unwrap().kill9().await;
            let after = 1 + rng.below(6) as usize;
            for k in 0..=after {
                let body = format!("m {n}");
                echoed
                    .push(post_until_echoed(&mut bob, &r, &body, &format!("o-{n}"), &echoed).await);
                n += 1;
                if k == 1 {
                    // Reported, never asserted: kill → echo of the first message posted
                    // after the kill (bench/failover.sh collects these lines).
                    let ms = killed.elapsed().as_millis();
                    eprintln!("chaos: failover ttl={ttl}s round={round} ms={ms}");
                }
            }
            epoch += 1;
            assert_eq!(
                owner(&db.url).await.1,
                epoch,
                "round {round}: the epoch rose by one"
            );
            // The killed node comes back as a new incarnation.
            nodes[own] =
                Some(spawn(bin, dirs[own].path(), NODES[own], &db.url, &nats.url(), ttl).await);
            seen.extend(events(&carol.drain_for(Duration::from_millis(100)).await));
        }
        seen.extend(events(&carol.drain_for(Duration::from_millis(500)).await));

        // Every echoed message archived once, in order; epochs never fall along the ids.
        let archive: Vec<(i64, Option<i64>, Option<String>)> = rows(
            &db.url,
            "SELECT id, epoch, origin_id FROM muc_archive WHERE room = 'chaos' ORDER BY id",
        )
        .await
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
        let ids: Vec<i64> = archive.iter().map(|a| a.0).collect();
        assert_eq!(
            ids, echoed,
            "every echoed message archived exactly once, in order"
        );
        let epochs: Vec<i64> = archive.iter().map(|a| a.1.expect("an epoch")).collect();
        assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "{epochs:?}");
        assert_eq!(epochs.last(), Some(&epoch));

        // Carol: what she got live or offline, with her MAM walk, is the archive.
        let walked = mam(&mut carol, &r).await;
        let expected: Vec<(i64, String)> = echoed
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, format!("m {i}")))
            .collect();
        assert_eq!(walked, expected, "carol's MAM walk is the archive");
        eprintln!(
            "chaos: {} messages archived, carol got {} events live or offline",
            echoed.len(),
            seen.len()
        );
        assert!(!seen.is_empty(), "carol got events live");
        // Carol is online through every takeover (moved off a doomed owner before it
        // dies): every echoed message reached her live (or offline, after a move), even
        // one its owner committed and died before sending (the next owner sends it).
        let got: BTreeSet<i64> = seen.iter().map(|(id, _)| *id).collect();
        let missing: Vec<i64> = echoed
            .iter()
            .copied()
            .filter(|id| !got.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "carol never got {missing:?} live or offline"
        );
        let mut union: BTreeMap<i64, String> = walked.into_iter().collect();
        for (id, text) in seen {
            let prior = union.insert(id, text.clone());
            assert!(
                prior.as_ref().is_some_and(|p| *p == text),
                "an event not in the archive, or another message under its id: {id} {text}"
            );
        }
        assert_eq!(union.len(), echoed.len());
        for s in nodes.into_iter().flatten() {
            s.kill9().await;
        }
    })
    .await
    .expect("the chaos rounds ended");
}
