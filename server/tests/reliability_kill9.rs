//! Crash safety (docs/protocol.md S16) under load: the real server binary runs with
//! subscribers online, several senders posting and a client subscribing to new rooms; it is
//! killed with SIGKILL at a random moment, restarted on the same data dir, 20 times.
//! Afterwards:
//! - every message whose sender got the room's echo is in the archive;
//! - every event a subscriber received live is in the archive;
//! - every subscribe that got a result is still listed;
//! - a native SDK client (connected during the load, its store kept across restarts)
//!   resyncs to exactly the archive: no duplicate, no gap.
//!
//! The kill moments come from a seeded RNG (`MUCSUB_CRASH_SEED` overrides the seed); the
//! assertions hold whatever the moment.

mod sdk_support;
#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minidom::Element;
use mucsub::client::{Command, CommandResult};
use mucsub::event::EventKind;
use mucsub::native::{Endpoint, NativeClient};
use mucsub::store::{MemoryStore, Store};
use mucsub_server::testkit::{ChildServer, Incoming, Mech, RawClient, TIMEOUT};
use rand::{Rng, SeedableRng};
use support::*;

const ROUNDS: usize = 20;
const SENDERS: [&str; 3] = ["s1", "s2", "s3"];
const WATCHERS: [&str; 2] = ["w1", "w2"];
const ROOM: &str = "load@conference.localhost";

type Shared<T> = Arc<Mutex<Vec<T>>>;

async fn connect(srv: &ChildServer, user: &str) -> RawClient {
    let mut c = RawClient::login_tcp(srv.c2s_addr, user, "pw", Mech::Plain, None, Some("r"))
        .await
        .expect("login");
    c.send("<presence/>").await;
    c
}

/// The next element, or `None` once the connection is gone (the server was killed).
async fn next(c: &mut RawClient) -> Option<Element> {
    loop {
        match c.next_incoming(TIMEOUT).await {
            Some(Incoming::Element(el)) => return Some(el),
            Some(Incoming::Open) => continue,
            _ => return None,
        }
    }
}

/// Posts until the connection dies; records the stanza-id of every message echoed back.
async fn sender(mut c: RawClient, name: String, round: usize, acked: Shared<(String, String)>) {
    for n in 0.. {
        let body = format!("{name}-{round}-{n}");
        c.send(&format!(
            "<message to='{ROOM}' type='groupchat' id='{body}'><body>{body}</body></message>"
        ))
        .await;
        loop {
            let Some(el) = next(&mut c).await else { return };
            if let Some((node, id, inner)) = unwrap_event(&el) {
                let echoed = inner.get_child("body", CLIENT).map(|b| b.text());
                if node == "messages" && echoed.as_deref() == Some(body.as_str()) {
                    acked.lock().unwrap().push((id, body.clone()));
                    break;
                }
            }
        }
    }
}

/// Collects the ids of live message events until the connection dies.
async fn watcher(mut c: RawClient, seen: Shared<String>) {
    while let Some(el) = next(&mut c).await {
        if let Some((node, id, _)) = unwrap_event(&el) {
            if node == "messages" && el.attr("from") == Some(ROOM) {
                seen.lock().unwrap().push(id);
            }
        }
    }
}

/// Subscribes to new rooms (each created by the subscribe, docs/protocol.md S5) until the
/// connection dies; records each room whose subscribe got a result. Each round has its own
/// account, and one that reaches the server's rooms-per-account quota (`not-allowed`) stops
/// subscribing and idles until the kill.
async fn joiner(mut c: RawClient, account: String, round: usize, done: Shared<(String, String)>) {
    for n in 0.. {
        let room = format!("sub-{round}-{n}@conference.localhost");
        let id = format!("j{round}-{n}");
        c.send(&format!(
            "<iq type='set' id='{id}' to='{room}'><subscribe xmlns='{MUCSUB}' nick='joiner'>\
             <event node='urn:xmpp:mucsub:nodes:messages'/></subscribe></iq>"
        ))
        .await;
        loop {
            let Some(el) = next(&mut c).await else { return };
            if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
                if error_of(&el).is_some_and(|(_, cond)| cond == "not-allowed") {
                    while next(&mut c).await.is_some() {}
                    return;
                }
                assert_result(&el);
                done.lock().unwrap().push((account.clone(), room.clone()));
                break;
            }
        }
    }
}

async fn sdk_client(srv: &ChildServer, store: MemoryStore) -> NativeClient<MemoryStore> {
    let cfg = sdk_support::config("reader", "sdk");
    let mut c = NativeClient::new(cfg, Endpoint::Tcp(srv.c2s_addr.to_string()), store)
        .await
        .expect("sdk client");
    c.set_auto_reconnect(false);
    c.connect().await.expect("sdk connect");
    if tokio::time::timeout(TIMEOUT * 3, c.wait_synced())
        .await
        .is_err()
    {
        // Is it the server? Ask it the same things directly.
        let mut o = connect(srv, "owner").await;
        let id = o.next_id();
        let served = tokio::time::timeout(
            Duration::from_secs(5),
            o.iq(&format!(
                "<iq type='set' id='{id}' to='{ROOM}'><query xmlns='{MAM}'><set xmlns='{RSM}'><max>1</max><before/></set></query></iq>"
            )),
        )
        .await;
        let mut d = RawClient::login_tcp(
            srv.c2s_addr,
            "reader",
            "pw",
            Mech::Plain,
            None,
            Some("diag"),
        )
        .await
        .expect("login");
        let listed = tokio::time::timeout(
            Duration::from_secs(5),
            d.iq(&format!(
                "<iq type='get' id='dl' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
            )),
        )
        .await;
        panic!(
            "the SDK client never finished syncing; its events: {:#?}; the server answers a \
             MAM query directly: {served:?}; and lists: {listed:?}; SDK ready: {:?}",
            c.take_events(),
            c.core().is_ready()
        );
    }
    c
}

/// Every archive id of `room`, oldest first, paging forward until `complete`.
async fn archive(c: &mut RawClient, room: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let id = c.next_id();
        let rsm = match &after {
            Some(a) => format!("<set xmlns='{RSM}'><max>200</max><after>{a}</after></set>"),
            None => format!("<set xmlns='{RSM}'><max>200</max></set>"),
        };
        let (reply, before) = iq_collect(
            c,
            &format!(
                "<iq type='set' id='{id}' to='{room}'><query xmlns='{MAM}' queryid='{id}'>{rsm}</query></iq>"
            ),
        )
        .await;
        assert_result(&reply);
        let page: Vec<String> = before
            .iter()
            .filter_map(|m| m.get_child("result", MAM))
            .filter(|r| r.attr("queryid") == Some(id.as_str()))
            .filter_map(|r| r.attr("id").map(str::to_owned))
            .collect();
        let fin = reply.get_child("fin", MAM).expect("fin");
        after = page.last().cloned().or(after);
        ids.extend(page);
        if fin.attr("complete") == Some("true") {
            return ids;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let seed: u64 = std::env::var("MUCSUB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de);
    println!("kill schedule seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let dir = tempfile::tempdir().expect("temp dir");
    let joiners: Vec<String> = (0..ROUNDS).map(|r| format!("joiner{r}")).collect();
    let mut users = vec!["owner", "reader"];
    users.extend(SENDERS);
    users.extend(WATCHERS);
    users.extend(joiners.iter().map(String::as_str));
    for u in &users {
        ChildServer::add_user(bin, dir.path(), u, "pw").await;
    }

    // The room and its subscriptions, before any load.
    let srv = ChildServer::spawn(bin, dir.path()).await;
    let mut o = connect(&srv, "owner").await;
    subscribe(&mut o, ROOM, "owner").await;
    for u in SENDERS.iter().chain(WATCHERS.iter()) {
        let mut c = connect(&srv, u).await;
        subscribe(&mut c, ROOM, u).await;
        c.close().await;
    }
    let store = MemoryStore::new();
    let mut reader = sdk_client(&srv, store.clone()).await;
    let r = reader
        .command(Command::subscribe(ROOM, "reader"))
        .await
        .expect("sdk subscribe");
    assert!(matches!(r, Ok(CommandResult::Subscribed { .. })), "{r:?}");
    drop(reader);
    o.close().await;
    srv.kill9().await;

    let acked: Shared<(String, String)> = Arc::default();
    let seen: Shared<String> = Arc::default();
    let subscribed: Shared<(String, String)> = Arc::default();
    for (round, account) in joiners.iter().enumerate() {
        println!("round {round}");
        let srv = ChildServer::spawn(bin, dir.path()).await;
        let mut tasks = Vec::new();
        for w in WATCHERS {
            tasks.push(tokio::spawn(watcher(connect(&srv, w).await, seen.clone())));
        }
        // A new SDK client each round (the app restarts over its store), synced before the
        // load starts and live through the kill.
        let mut reader = sdk_client(&srv, store.clone()).await;
        for s in SENDERS {
            tasks.push(tokio::spawn(sender(
                connect(&srv, s).await,
                s.to_owned(),
                round,
                acked.clone(),
            )));
        }
        tasks.push(tokio::spawn(joiner(
            connect(&srv, account).await,
            account.clone(),
            round,
            subscribed.clone(),
        )));
        let delay = Duration::from_millis(rng.random_range(50..700));
        let killer = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            srv.kill9().await;
        });
        // The SDK client is not Send: it is driven here, never cancelled mid-read, until
        // its connection is gone.
        tokio::time::timeout(TIMEOUT, async {
            while reader.drive_once().await.is_ok() {}
        })
        .await
        .expect("the SDK client noticed the kill");
        killer.await.expect("kill");
        for t in tasks {
            tokio::time::timeout(TIMEOUT, t)
                .await
                .expect("a client noticed the kill")
                .expect("client task");
        }
    }

    let srv = ChildServer::spawn(bin, dir.path()).await;
    let mut o = connect(&srv, "owner").await;
    let archived = archive(&mut o, ROOM).await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= ROUNDS,
        "the load was too light to mean anything: {} acknowledged posts",
        acked.len()
    );
    println!(
        "{} archived, {} acknowledged posts, {} live events",
        archived.len(),
        acked.len(),
        seen.lock().unwrap().len()
    );
    let in_archive: std::collections::HashSet<&String> = archived.iter().collect();
    for (id, body) in &acked {
        assert!(
            in_archive.contains(id),
            "acknowledged post {body} (id {id}) is missing from the archive"
        );
    }
    for id in seen.lock().unwrap().iter() {
        assert!(
            in_archive.contains(id),
            "event {id} was delivered live but is not in the archive"
        );
    }

    let subscribed = subscribed.lock().unwrap().clone();
    assert!(!subscribed.is_empty(), "no subscribe completed");
    println!("{} acknowledged subscriptions", subscribed.len());
    for account in &joiners {
        let mut j = connect(&srv, account).await;
        let id = j.next_id();
        let list = j
            .iq(&format!(
                "<iq type='get' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
            ))
            .await;
        assert_result(&list);
        let listed: std::collections::HashSet<String> = list
            .get_child("subscriptions", MUCSUB)
            .expect("list")
            .children()
            .filter_map(|s| s.attr("jid").map(str::to_owned))
            .collect();
        for (_, room) in subscribed.iter().filter(|(a, _)| a == account) {
            assert!(
                listed.contains(room),
                "{account}'s acknowledged subscription to {room} is gone"
            );
        }
        j.close().await;
    }

    let mut reader = sdk_client(&srv, store.clone()).await;
    let stored = store.events(ROOM, 1_000_000).await.expect("stored events");
    let mut stored_ids: Vec<String> = stored
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Message { .. }))
        .map(|e| {
            e.stanza_id
                .clone()
                .expect("stored messages carry the archive id")
        })
        .collect();
    let total = stored_ids.len();
    stored_ids.sort();
    stored_ids.dedup();
    assert_eq!(total, stored_ids.len(), "the SDK stored duplicates");
    let mut want = archived.clone();
    want.sort();
    assert_eq!(
        stored_ids.len(),
        want.len(),
        "the SDK store and the archive differ in size"
    );
    assert_eq!(stored_ids, want, "the SDK store is not the archive");
    let state = store.room_state(ROOM).await.expect("room state");
    assert!(state.gaps.is_empty(), "gaps recorded: {:?}", state.gaps);
    assert_eq!(
        state.cursor.as_ref().map(|c| c.id.clone()),
        archived.last().cloned(),
        "the SDK cursor is the newest archived message"
    );
    reader.disconnect().await.expect("disconnect");
    srv.kill9().await;
}
