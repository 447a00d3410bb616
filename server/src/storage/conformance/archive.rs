//! Archive (MAM) cases of [`crate::storage::MucStore`]: paging in both directions, the
//! form's filters, counts, unknown ids, bounds, ids per room.

use super::muc::{msg, save};
use super::opener::Opener;
use crate::muc::config_form::RoomConfig;
use crate::muc::ids::stamp;
use crate::muc::mam::query::{parse_query, ArchiveQuery};
use crate::storage::archive::COUNT_CAP;
use crate::storage::{MucStore, Page, StoreOp, UnknownId};

/// Archives `n` messages in room `r`: ids 10, 20, …, stamps 1 s, 2 s, …, nicks
/// alternating `odd`/`even`, senders `a@localhost` (odd) and `b@localhost` (even).
async fn fill(store: &dyn MucStore, room: &str, n: i64) {
    let mut ops = vec![save(room, RoomConfig::default())];
    for i in 1..=n {
        let sender = if i % 2 == 0 {
            "b@localhost"
        } else {
            "a@localhost"
        };
        let mut m = msg(room, i * 10, sender);
        m.stamp_us = i * 1_000_000;
        m.nick = if i % 2 == 0 { "even" } else { "odd" }.into();
        ops.push(StoreOp::Archive(m));
        // Large fills go in several batches.
        if ops.len() >= 2000 {
            store.commit(std::mem::take(&mut ops)).await.unwrap();
        }
    }
    store.commit(ops).await.unwrap();
}

fn q(xml: &str) -> ArchiveQuery {
    let el: minidom::Element = xml.parse().unwrap();
    parse_query(&el, "r@conference.localhost", 50).unwrap()
}

fn rsm(inner: &str) -> ArchiveQuery {
    q(&format!(
        "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>{inner}</set></query>"
    ))
}

fn form(fields: &str) -> ArchiveQuery {
    q(&format!("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>{fields}</x></query>"))
}

fn ids(p: &Page) -> Vec<i64> {
    p.items.iter().map(|i| i.id).collect()
}

async fn page(store: &dyn MucStore, room: &str, query: &ArchiveQuery) -> Page {
    store.archive_page(room, query).await.unwrap().unwrap()
}

pub async fn forward_and_backward_paging(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", 5).await;
    let first = page(&*s.muc, "r", &rsm("<max>2</max>")).await;
    assert_eq!(
        (ids(&first), first.complete, first.count),
        (vec![10, 20], false, Some(5))
    );
    assert_eq!(first.items[0].stamp_us, 1_000_000);
    assert!(first.items[1].stanza.contains("<body>20</body>"));
    let last = page(&*s.muc, "r", &rsm("<max>2</max><after>40</after>")).await;
    assert_eq!((ids(&last), last.complete), (vec![50], true));
    let newest = page(&*s.muc, "r", &rsm("<max>2</max><before/>")).await;
    assert_eq!((ids(&newest), newest.complete), (vec![40, 50], false));
    let oldest = page(&*s.muc, "r", &rsm("<max>5</max><before>30</before>")).await;
    assert_eq!((ids(&oldest), oldest.complete), (vec![10, 20], true));
    let empty = page(&*s.muc, "nothing-here", &rsm("<max>5</max>")).await;
    assert_eq!(
        (ids(&empty), empty.complete, empty.count),
        (vec![], true, Some(0))
    );
}

pub async fn form_filters(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", 6).await;
    let m = &*s.muc;
    let by_nick = form("<field var='with'><value>r@conference.localhost/even</value></field>");
    let p = page(m, "r", &by_nick).await;
    assert_eq!((ids(&p), p.count), (vec![20, 40, 60], Some(3)));
    let by_sender = form("<field var='with'><value>a@localhost</value></field>");
    assert_eq!(ids(&page(m, "r", &by_sender).await), vec![10, 30, 50]);
    let range = form("<field var='after-id'><value>20</value></field><field var='before-id'><value>50</value></field>");
    let p = page(m, "r", &range).await;
    assert_eq!((ids(&p), p.count), (vec![30, 40], Some(2)));
    let listed = form("<field var='ids'><value>30</value><value>10</value></field>");
    assert_eq!(ids(&page(m, "r", &listed).await), vec![10, 30]);
    let times = form(&format!(
        "<field var='start'><value>{}</value></field><field var='end'><value>{}</value></field>",
        stamp(2_000_000),
        stamp(3_000_000)
    ));
    assert_eq!(ids(&page(m, "r", &times).await), vec![20, 30]);
    // A filter and a cursor together.
    let mut both = by_nick.clone();
    both.after = Some(20);
    assert_eq!(ids(&page(m, "r", &both).await), vec![40, 60]);
}

pub async fn unknown_ids_are_refused(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", 2).await;
    for query in [
        rsm("<after>15</after>"),
        rsm("<before>25</before>"),
        form("<field var='after-id'><value>11</value></field>"),
        form("<field var='ids'><value>10</value><value>99</value></field>"),
    ] {
        let r = s.muc.archive_page("r", &query).await.unwrap();
        assert!(matches!(r, Err(UnknownId(_))), "{query:?}: {r:?}");
    }
    assert_eq!(
        s.muc
            .archive_page("r", &rsm("<after>15</after>"))
            .await
            .unwrap(),
        Err(UnknownId(15))
    );
}

pub async fn ids_and_cursors_are_per_room(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", 3).await;
    let mut ops = vec![save("other", RoomConfig::default())];
    ops.push(StoreOp::Archive(msg("other", 15, "a@localhost")));
    ops.push(StoreOp::Archive(msg("other", 35, "a@localhost")));
    s.muc.commit(ops).await.unwrap();
    assert_eq!(ids(&page(&*s.muc, "r", &rsm("")).await), vec![10, 20, 30]);
    assert_eq!(ids(&page(&*s.muc, "other", &rsm("")).await), vec![15, 35]);
    // Another room's id is no cursor here.
    assert_eq!(
        s.muc
            .archive_page("r", &rsm("<after>15</after>"))
            .await
            .unwrap(),
        Err(UnknownId(15))
    );
}

pub async fn whole_room_count_follows_inserts_and_destroy(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", 5).await;
    let all = rsm("");
    assert_eq!(page(&*s.muc, "r", &all).await.count, Some(5));
    s.muc
        .commit(vec![StoreOp::Archive(msg("r", 1000, "a@localhost"))])
        .await
        .unwrap();
    assert_eq!(page(&*s.muc, "r", &all).await.count, Some(6));
    assert_eq!(page(&*s.muc, "other", &all).await.count, Some(0));
    // Archived and destroyed in one batch, then archived again.
    s.muc
        .commit(vec![
            StoreOp::Archive(msg("r", 1001, "a@localhost")),
            StoreOp::DestroyRoom { room: "r".into() },
        ])
        .await
        .unwrap();
    let p = page(&*s.muc, "r", &all).await;
    assert_eq!((p.count, p.items.len()), (Some(0), 0));
    s.muc
        .commit(vec![
            save("r", RoomConfig::default()),
            StoreOp::Archive(msg("r", 2000, "a@localhost")),
        ])
        .await
        .unwrap();
    assert_eq!(page(&*s.muc, "r", &all).await.count, Some(1));
}

/// A batch may refuse a resent message and then destroy its room (the stored message is
/// still reported, as it stood when the message was refused), and refuse a message resent
/// after the room was made again in the same batch: only what was written is counted.
pub async fn duplicates_around_a_destroy_are_reported_and_not_counted(open: impl Opener) {
    let s = open.open(10).await;
    let with_origin = |id: i64, origin: &str| {
        let mut m = msg("r", id, "a@localhost");
        m.origin_id = Some(origin.into());
        m
    };
    let first = with_origin(10, "o-1");
    s.muc
        .commit(vec![
            save("r", RoomConfig::default()),
            StoreOp::Archive(first.clone()),
        ])
        .await
        .unwrap();
    let done = s
        .muc
        .commit(vec![
            StoreOp::Archive(with_origin(20, "o-1")),
            StoreOp::DestroyRoom { room: "r".into() },
            save("r", RoomConfig::default()),
            StoreOp::Archive(with_origin(30, "o-9")),
            StoreOp::Archive(with_origin(40, "o-9")),
        ])
        .await
        .expect("a batch with refused messages still commits");
    let reported: Vec<(i64, i64)> = done
        .duplicates
        .iter()
        .map(|d| (d.attempted, d.stored.id))
        .collect();
    assert_eq!(reported, [(20, 10), (40, 30)]);
    assert_eq!(done.duplicates[0].stored, first);
    let p = page(&*s.muc, "r", &rsm("")).await;
    assert_eq!((ids(&p), p.count), (vec![30], Some(1)));
}

pub async fn filtered_count_is_left_out_past_the_cap(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", COUNT_CAP + 2).await;
    let mut filtered = form("<field var='after-id'><value>10</value></field>");
    filtered.max = 2;
    let p = page(&*s.muc, "r", &filtered).await;
    assert_eq!((ids(&p), p.count), (vec![20, 30], None));
    let mut narrow = form("<field var='after-id'><value>10</value></field><field var='before-id'><value>50</value></field>");
    narrow.max = 2;
    assert_eq!(page(&*s.muc, "r", &narrow).await.count, Some(3));
    // The whole room is counted however large.
    let p = page(&*s.muc, "r", &rsm("<max>2</max><before/>")).await;
    assert_eq!(p.count, Some(COUNT_CAP + 2));
    assert_eq!(ids(&p), vec![(COUNT_CAP + 1) * 10, (COUNT_CAP + 2) * 10]);
}

pub async fn max_zero_asks_only_for_the_count(open: impl Opener) {
    let s = open.open(10).await;
    let zero = rsm("<max>0</max>");
    let p = page(&*s.muc, "r", &zero).await;
    assert_eq!((p.items.len(), p.count, p.complete), (0, Some(0), true));
    fill(&*s.muc, "r", 3).await;
    let p = page(&*s.muc, "r", &zero).await;
    assert_eq!((p.items.len(), p.count, p.complete), (0, Some(3), false));
}

pub async fn bounds_are_the_oldest_and_newest(open: impl Opener) {
    let s = open.open(10).await;
    let none = s.muc.archive_bounds("r").await.unwrap();
    assert!(none.start.is_none() && none.end.is_none());
    fill(&*s.muc, "r", 4).await;
    let b = s.muc.archive_bounds("r").await.unwrap();
    let (start, end) = (b.start.unwrap(), b.end.unwrap());
    assert_eq!((start.id.as_str(), start.stamp_us), ("10", 1_000_000));
    assert_eq!((end.id.as_str(), end.stamp_us), ("40", 4_000_000));
}

pub async fn a_walk_never_skips_or_repeats_while_messages_arrive(open: impl Opener) {
    let s = open.open(10).await;
    fill(&*s.muc, "r", 7).await;
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    let mut next_id = 1000;
    loop {
        let mut query = rsm("<max>3</max>");
        query.after = after;
        let p = page(&*s.muc, "r", &query).await;
        seen.extend(ids(&p));
        // New messages land between two pages.
        s.muc
            .commit(vec![StoreOp::Archive(msg("r", next_id, "a@localhost"))])
            .await
            .unwrap();
        next_id += 1;
        if p.complete {
            break;
        }
        after = p.items.last().map(|i| i.id);
    }
    let mut expected: Vec<i64> = (1..=7).map(|i| i * 10).collect();
    expected.extend(1000..next_id - 1);
    assert_eq!(seen, expected);
}
