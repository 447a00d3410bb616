//! [`crate::storage::AccountStore`] cases.

use super::opener::{creds, Opener};
use crate::storage::push::Registration;

pub async fn create_is_once_and_credentials_round_trip(open: impl Opener) {
    let s = open.open(10).await;
    assert!(s.accounts.create("alice", creds("pw")).await.unwrap());
    assert!(!s.accounts.create("alice", creds("other")).await.unwrap());
    let c = s.accounts.credentials("alice").await.unwrap().unwrap();
    assert_eq!(c, creds("pw"), "the first credentials stay");
    assert!(c.verify("pw") && !c.verify("other"));
    assert!(s.accounts.credentials("nobody").await.unwrap().is_none());
    // Full-strength credentials keep their iteration count.
    let strong = crate::storage::Credentials::derive("s3cret").unwrap();
    assert!(s.accounts.create("bob", strong.clone()).await.unwrap());
    assert_eq!(s.accounts.credentials("bob").await.unwrap(), Some(strong));
}

pub async fn set_credentials_only_for_existing_accounts(open: impl Opener) {
    let s = open.open(10).await;
    assert!(!s
        .accounts
        .set_credentials("ghost", creds("x"))
        .await
        .unwrap());
    assert!(s.accounts.credentials("ghost").await.unwrap().is_none());
    s.accounts.create("alice", creds("old")).await.unwrap();
    assert!(s
        .accounts
        .set_credentials("alice", creds("new"))
        .await
        .unwrap());
    let c = s.accounts.credentials("alice").await.unwrap().unwrap();
    assert!(c.verify("new") && !c.verify("old"));
}

pub async fn list_is_sorted(open: impl Opener) {
    let s = open.open(10).await;
    assert!(s.accounts.list().await.unwrap().is_empty());
    for u in ["carol", "alice", "bob"] {
        s.accounts.create(u, creds("pw")).await.unwrap();
    }
    assert_eq!(s.accounts.list().await.unwrap(), ["alice", "bob", "carol"]);
}

fn reg(user: &str, node: &str) -> Registration {
    Registration {
        user: user.into(),
        service: "push.localhost".into(),
        node: node.into(),
        options: Vec::new(),
        include_body: false,
    }
}

pub async fn remove_cascades_to_offline_and_push_only(open: impl Opener) {
    let s = open.open(10).await;
    for u in ["alice", "bob"] {
        s.accounts.create(u, creds("pw")).await.unwrap();
        s.offline.push(u, format!("<m>{u}</m>")).await.unwrap();
        s.push.enable(reg(u, "dev")).await.unwrap();
    }
    assert!(s.accounts.remove("alice").await.unwrap());
    assert!(!s.accounts.remove("alice").await.unwrap(), "removed once");
    assert!(s.accounts.credentials("alice").await.unwrap().is_none());
    assert_eq!(s.offline.count("alice").await.unwrap(), 0);
    assert!(s.push.registrations("alice").await.unwrap().is_empty());
    // Nothing of bob's goes with it.
    assert_eq!(s.accounts.list().await.unwrap(), ["bob"]);
    assert_eq!(s.offline.count("bob").await.unwrap(), 1);
    assert_eq!(
        s.push.registrations("bob").await.unwrap(),
        [reg("bob", "dev")]
    );
    // The name is free again, with nothing left over.
    assert!(s.accounts.create("alice", creds("pw")).await.unwrap());
    assert_eq!(s.offline.count("alice").await.unwrap(), 0);
}
