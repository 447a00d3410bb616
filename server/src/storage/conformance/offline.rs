//! [`crate::storage::OfflineStore`] cases.

use super::opener::Opener;

fn texts(msgs: &[crate::storage::OfflineMessage]) -> Vec<&str> {
    msgs.iter().map(|m| m.stanza.as_str()).collect()
}

pub async fn queue_is_fifo_per_account_and_bounded(open: impl Opener) {
    let s = open.open(2).await;
    let before = crate::time::now_millis();
    assert!(s.offline.push("bob", "<a/>".into()).await.unwrap());
    assert!(s.offline.push("bob", "<b/>".into()).await.unwrap());
    assert!(!s.offline.push("bob", "<c/>".into()).await.unwrap(), "full");
    assert!(
        s.offline.push("carol", "<d/>".into()).await.unwrap(),
        "per account"
    );
    let msgs = s.offline.peek("bob").await.unwrap();
    assert_eq!(texts(&msgs), ["<a/>", "<b/>"]);
    assert_eq!(
        s.offline.total().await.unwrap(),
        3,
        "every account's together"
    );
    assert!(msgs[0].id < msgs[1].id);
    let after = crate::time::now_millis();
    assert!(msgs
        .iter()
        .all(|m| (before..=after).contains(&m.stamp_millis)));
    // Peeking removes nothing.
    assert_eq!(s.offline.count("bob").await.unwrap(), 2);
    s.offline
        .remove("bob", msgs.iter().map(|m| m.id).collect())
        .await
        .unwrap();
    assert_eq!(s.offline.count("bob").await.unwrap(), 0);
    assert!(s.offline.peek("bob").await.unwrap().is_empty());
    // Room again once delivered.
    assert!(s.offline.push("bob", "<e/>".into()).await.unwrap());
    assert_eq!(s.offline.count("carol").await.unwrap(), 1);
    assert!(s.offline.peek("nobody").await.unwrap().is_empty());
}

pub async fn remove_takes_only_the_given_ids_of_that_account(open: impl Opener) {
    let s = open.open(10).await;
    for x in ["<1/>", "<2/>", "<3/>"] {
        s.offline.push("bob", x.into()).await.unwrap();
    }
    s.offline.push("carol", "<c/>".into()).await.unwrap();
    let bob = s.offline.peek("bob").await.unwrap();
    let carol = s.offline.peek("carol").await.unwrap();
    // Carol's id given for bob is ignored, as are ids already gone.
    s.offline
        .remove("bob", vec![bob[1].id, carol[0].id, bob[1].id, i64::MAX])
        .await
        .unwrap();
    s.offline.remove("bob", Vec::new()).await.unwrap();
    assert_eq!(
        texts(&s.offline.peek("bob").await.unwrap()),
        ["<1/>", "<3/>"]
    );
    assert_eq!(s.offline.count("carol").await.unwrap(), 1);
}

pub async fn concurrent_pushes_never_pass_the_bound(open: impl Opener) {
    let s = open.open(5).await;
    let pushes = (0..20).map(|i| {
        let offline = s.offline.clone();
        tokio::spawn(async move { offline.push("bob", format!("<m n='{i}'/>")).await })
    });
    let mut stored = 0;
    for p in pushes {
        if p.await.unwrap().unwrap() {
            stored += 1;
        }
    }
    assert_eq!(
        stored, 5,
        "exactly the bound is stored, whatever the interleaving"
    );
    assert_eq!(s.offline.count("bob").await.unwrap(), 5);
}

pub async fn stanzas_round_trip_byte_for_byte(open: impl Opener) {
    let s = open.open(10).await;
    let odd =
        "<message xmlns='jabber:client'><body>é ✓ 🙂 &amp; 'q' \"d\"</body></message>".to_owned();
    let big = format!("<message><body>{}</body></message>", "x".repeat(200_000));
    for x in [&odd, &big] {
        s.offline.push("bob", x.clone()).await.unwrap();
    }
    let got = s.offline.peek("bob").await.unwrap();
    assert_eq!(texts(&got), [odd.as_str(), big.as_str()]);
}
