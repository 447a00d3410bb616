//! Issue 19: an owner that dies between a commit and its fanout. The message is in the
//! archive (and its sender may have had the echo) but subscribers connected to other
//! nodes never got it live. The node that takes the room over sends the dead owner's
//! last messages again to the subscribers online, under their stanza-ids.
//!
//! The crash window is made exact rather than waited for: node A owns the room and
//! archives a real message; a second row is then written to A's archive the way A's
//! commit writes it (same room, A's epoch, the next id) and A is killed (-9) before it
//! could ever send it. Real processes on one PostgreSQL database and one `nats-server`.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use cluster_support::{connect, post_until_echoed, rows, two_nodes, TwoNodes};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_sends_what_the_dead_one_committed_and_never_sent() {
    let TwoNodes {
        a,
        b,
        db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(1, &["alice", "bob", "carol"]).await;
    let r = room("tail");

    // A owns the room; bob and carol are subscribers connected to B.
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut bob = connect(&b, "bob").await;
    subscribe(&mut bob, &r, "bob").await;
    let mut carol = connect(&b, "carol").await;
    subscribe(&mut carol, &r, "carol").await;
    say(&mut alice, &r, "sent").await;
    carol.drain().await;

    // A commits one more message and dies before its fanout.
    let unsent: i64 = rows(
        &db.url,
        "WITH last AS (SELECT * FROM muc_archive WHERE room = 'tail' ORDER BY id DESC LIMIT 1)
         INSERT INTO muc_archive(room, id, stamp_us, nick, sender, stanza, epoch)
         SELECT room, id + 1, stamp_us + 1, nick, sender,
                replace(replace(stanza, '>sent<', '>never sent<'), id::TEXT, (id + 1)::TEXT),
                epoch
         FROM last RETURNING id",
    )
    .await[0]
        .get(0);
    rows(
        &db.url,
        &format!("UPDATE muc_archive_counts SET n = n + 1, last_id = {unsent} WHERE room = 'tail'"),
    )
    .await;
    a.kill9().await;

    // Bob's next message claims the room for B once A's lease has expired.
    post_until_echoed(&mut bob, &r, "after the takeover", "o-1", &[]).await;

    // Carol, online on B all along, gets the message A never sent, under its id.
    loop {
        let (_, _, inner) = expect_event(&mut carol, "messages").await;
        let body = inner.get_child("body", CLIENT).map(|b| b.text());
        if body.as_deref() == Some("never sent") {
            assert_eq!(stanza_id(&inner), Some(unsent.to_string()));
            break;
        }
        assert_ne!(
            body.as_deref(),
            Some("after the takeover"),
            "the dead owner's message comes before anything newer"
        );
    }
}
