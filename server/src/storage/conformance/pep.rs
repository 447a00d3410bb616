//! [`crate::storage::PepStore`] cases.

use super::opener::{creds, Opener};
use crate::storage::PepItem;

fn it(node: &str, id: &str, payload: &str) -> PepItem {
    PepItem {
        node: node.into(),
        id: id.into(),
        payload: payload.into(),
    }
}

async fn with_accounts(open: impl Opener, users: &[&str]) -> crate::storage::Storage {
    let s = open.open(10).await;
    for u in users {
        s.accounts.create(u, creds("pw")).await.unwrap();
    }
    s
}

fn ids(items: &[PepItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

pub async fn items_replace_by_id_and_keep_the_newest(open: impl Opener) {
    let s = with_accounts(open, &["al", "bo"]).await;
    s.pep
        .publish("al", it("n", "a", "<x>1</x>"), 3)
        .await
        .unwrap();
    s.pep
        .publish("al", it("n", "b", "<x>2</x>"), 3)
        .await
        .unwrap();
    s.pep
        .publish("al", it("n", "a", "<x>3</x>"), 3)
        .await
        .unwrap();
    let got = s.pep.items("al", "n").await.unwrap();
    assert_eq!(ids(&got), ["b", "a"], "a republished item is the newest");
    assert_eq!(got[1].payload, "<x>3</x>");
    s.pep.publish("al", it("n", "c", "<x/>"), 3).await.unwrap();
    s.pep.publish("al", it("n", "d", "<x/>"), 3).await.unwrap();
    assert_eq!(ids(&s.pep.items("al", "n").await.unwrap()), ["a", "c", "d"]);
    // Per account and node.
    assert!(s.pep.items("bo", "n").await.unwrap().is_empty());
    assert!(s.pep.items("al", "other").await.unwrap().is_empty());
    assert!(s.pep.retract("al", "n", "c").await.unwrap());
    assert!(!s.pep.retract("al", "n", "c").await.unwrap());
    assert_eq!(ids(&s.pep.items("al", "n").await.unwrap()), ["a", "d"]);
}

pub async fn last_items_are_the_newest_of_each_node(open: impl Opener) {
    let s = with_accounts(open, &["al", "bo"]).await;
    assert!(s.pep.last_items("al").await.unwrap().is_empty());
    s.pep
        .publish("al", it("mds", "r1", "<a/>"), 100)
        .await
        .unwrap();
    s.pep
        .publish("al", it("mds", "r2", "<b/>"), 100)
        .await
        .unwrap();
    s.pep
        .publish("al", it("bm", "x", "<c/>"), 100)
        .await
        .unwrap();
    s.pep
        .publish("bo", it("mds", "r9", "<d/>"), 100)
        .await
        .unwrap();
    let last = s.pep.last_items("al").await.unwrap();
    assert_eq!(last, vec![it("bm", "x", "<c/>"), it("mds", "r2", "<b/>")]);
}

pub async fn items_need_an_account_and_go_with_it(open: impl Opener) {
    let s = with_accounts(open, &["al"]).await;
    assert!(s
        .pep
        .publish("ghost", it("n", "a", "<x/>"), 10)
        .await
        .is_err());
    s.pep.publish("al", it("n", "a", "<x/>"), 10).await.unwrap();
    assert!(s.accounts.remove("al").await.unwrap());
    assert!(s.pep.items("al", "n").await.unwrap().is_empty());
}
