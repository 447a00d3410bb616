//! [`crate::storage::PushStore`] cases.

use super::opener::{creds, Opener};
use crate::storage::push::{Registration, MAX_PER_ACCOUNT};

fn reg(user: &str, node: &str) -> Registration {
    Registration {
        user: user.into(),
        service: "push.localhost".into(),
        node: node.into(),
        options: vec![
            ("endpoint".into(), format!("https://p.example/{node}")),
            ("auth".into(), "a/b+c=".into()),
        ],
        include_body: false,
    }
}

async fn with_accounts(open: impl Opener, users: &[&str]) -> crate::storage::Storage {
    let s = open.open(10).await;
    for u in users {
        s.accounts.create(u, creds("pw")).await.unwrap();
    }
    s
}

pub async fn enable_replaces_the_same_node_and_disable_removes(open: impl Opener) {
    let s = with_accounts(open, &["bob"]).await;
    s.push.enable(reg("bob", "a")).await.unwrap();
    let mut again = reg("bob", "a");
    again.include_body = true;
    again.options.reverse();
    s.push.enable(again.clone()).await.unwrap();
    s.push.enable(reg("bob", "b")).await.unwrap();
    let mut other = reg("bob", "a");
    other.service = "push.example".into();
    s.push.enable(other.clone()).await.unwrap();
    let regs = s.push.registrations("bob").await.unwrap();
    assert_eq!(regs.len(), 3);
    assert!(regs.contains(&again), "replaced, options in request order");
    assert_eq!(
        s.push
            .disable("bob", "push.localhost", Some("a"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.push
            .disable("bob", "push.localhost", Some("a"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.push.registrations("bob").await.unwrap(),
        [reg("bob", "b"), other.clone()]
    );
    assert_eq!(
        s.push.disable("bob", "push.localhost", None).await.unwrap(),
        1
    );
    assert_eq!(s.push.registrations("bob").await.unwrap(), [other]);
}

pub async fn the_oldest_registration_goes_past_the_cap(open: impl Opener) {
    let s = with_accounts(open, &["bob"]).await;
    for i in 0..=MAX_PER_ACCOUNT {
        s.push
            .enable(reg("bob", &format!("n{i:02}")))
            .await
            .unwrap();
    }
    let regs = s.push.registrations("bob").await.unwrap();
    assert_eq!(regs.len(), MAX_PER_ACCOUNT);
    assert!(regs.iter().all(|r| r.node != "n00"));
    assert_eq!(regs[0].node, "n01", "oldest first");
    assert_eq!(
        regs[MAX_PER_ACCOUNT - 1].node,
        format!("n{MAX_PER_ACCOUNT:02}")
    );
}

pub async fn registrations_need_an_account_and_go_with_it(open: impl Opener) {
    let s = with_accounts(open, &["bob"]).await;
    assert!(s.push.enable(reg("nobody", "a")).await.is_err());
    s.push.enable(reg("bob", "a")).await.unwrap();
    s.accounts.remove("bob").await.unwrap();
    assert!(s.push.registrations("bob").await.unwrap().is_empty());
    assert!(s.push.all().await.unwrap().is_empty());
}

pub async fn all_lists_every_account_oldest_first(open: impl Opener) {
    let s = with_accounts(open, &["bob", "alice"]).await;
    s.push.enable(reg("bob", "b1")).await.unwrap();
    s.push.enable(reg("alice", "a1")).await.unwrap();
    s.push.enable(reg("bob", "b2")).await.unwrap();
    let all: Vec<(String, String)> = s
        .push
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.user, r.node))
        .collect();
    let pairs: Vec<(&str, &str)> = all.iter().map(|(u, n)| (u.as_str(), n.as_str())).collect();
    assert_eq!(pairs, [("alice", "a1"), ("bob", "b1"), ("bob", "b2")]);
}

pub async fn the_first_vapid_key_stored_wins(open: impl Opener) {
    let s = open.open(10).await;
    let first = s.push.vapid_key(vec![1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    assert_eq!(s.push.vapid_key(vec![2; 32]).await.unwrap(), first);
    // Nodes starting together agree on one key.
    let racers = (3..8u8).map(|b| {
        let push = s.push.clone();
        tokio::spawn(async move { push.vapid_key(vec![b; 32]).await.unwrap() })
    });
    for r in racers {
        assert_eq!(r.await.unwrap(), first);
    }
}
