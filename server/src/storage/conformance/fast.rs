//! [`crate::storage::FastStore`] cases, and the FAST service (`crate::fast`) on each engine.

use std::sync::Arc;

use super::opener::{creds, Opener};
use crate::fast::{key::Key, Attempt, Device, Fast};
use crate::storage::{FastToken, Slot, Storage, Use};
use mucsub_protocol::fast::{initiator_proof, HT_SHA_256_NONE};

fn token(user: &str, device: &str, nonce: u8) -> FastToken {
    FastToken {
        user: user.into(),
        device: device.into(),
        slot: Slot::New,
        mechanism: HT_SHA_256_NONE.into(),
        nonce: vec![nonce; 32],
        token_hash: vec![nonce ^ 0xff; 32],
        created_ms: 1_700_000_000_000,
        expires_ms: 1_700_000_000_000 + i64::from(nonce) * 1000,
        last_count: None,
        last_used_ms: None,
        software: Some("Demo app".into()),
        device_name: Some("Phone".into()),
    }
}

async fn with_accounts(open: impl Opener, users: &[&str]) -> Storage {
    let s = open.open(10).await;
    for u in users {
        s.accounts.create(u, creds("pw")).await.unwrap();
    }
    s
}

pub async fn issue_replaces_an_unused_token_and_round_trips_every_field(open: impl Opener) {
    let s = with_accounts(open, &["alice"]).await;
    s.fast.put_new(token("alice", "d1", 1)).await.unwrap();
    s.fast.put_new(token("alice", "d1", 2)).await.unwrap();
    assert_eq!(
        s.fast.tokens("alice", "d1").await.unwrap(),
        [token("alice", "d1", 2)],
        "an unused new token is replaced, every field kept"
    );
    let mut bare = token("alice", "d2", 3);
    (bare.software, bare.device_name) = (None, None);
    s.fast.put_new(bare.clone()).await.unwrap();
    assert_eq!(s.fast.tokens("alice", "d2").await.unwrap(), [bare]);
    assert!(s.fast.tokens("alice", "d3").await.unwrap().is_empty());
}

pub async fn using_the_new_token_rotates_it_into_the_current_place(open: impl Opener) {
    let s = with_accounts(open, &["alice"]).await;
    let f = &s.fast;
    f.put_new(token("alice", "d1", 1)).await.unwrap();
    let used = f.record_use("alice", "d1", Slot::New, None, 5).await;
    assert_eq!(used.unwrap(), Use::Accepted);
    let t = f.tokens("alice", "d1").await.unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].slot, t[0].nonce.clone(), t[0].last_used_ms),
        (Slot::Current, vec![1; 32], Some(5))
    );
    // A rotation: the current token keeps working until the new one is used.
    f.put_new(token("alice", "d1", 2)).await.unwrap();
    assert_eq!(f.tokens("alice", "d1").await.unwrap().len(), 2);
    let used = f.record_use("alice", "d1", Slot::Current, None, 6).await;
    assert_eq!(used.unwrap(), Use::Accepted);
    assert_eq!(f.tokens("alice", "d1").await.unwrap().len(), 2);
    let used = f.record_use("alice", "d1", Slot::New, None, 7).await;
    assert_eq!(used.unwrap(), Use::Accepted);
    let t = f.tokens("alice", "d1").await.unwrap();
    assert_eq!(t.len(), 1, "the old current token is gone");
    assert_eq!(
        (t[0].slot, t[0].nonce.clone()),
        (Slot::Current, vec![2; 32])
    );
    let used = f.record_use("alice", "d1", Slot::New, None, 8).await;
    assert_eq!(used.unwrap(), Use::Gone, "no new token any more");
}

pub async fn counts_must_grow_and_a_replay_is_refused(open: impl Opener) {
    let s = with_accounts(open, &["alice"]).await;
    let f = &s.fast;
    f.put_new(token("alice", "d1", 1)).await.unwrap();
    let new = |c| f.record_use("alice", "d1", Slot::New, Some(c), 1);
    assert_eq!(new(0).await.unwrap(), Use::Accepted);
    let cur = |c| f.record_use("alice", "d1", Slot::Current, Some(c), 1);
    assert_eq!(cur(0).await.unwrap(), Use::Replayed);
    assert_eq!(cur(2).await.unwrap(), Use::Accepted);
    assert_eq!(cur(1).await.unwrap(), Use::Replayed);
    assert_eq!(cur(2).await.unwrap(), Use::Replayed);
    let uncounted = f.record_use("alice", "d1", Slot::Current, None, 1).await;
    assert_eq!(
        uncounted.unwrap(),
        Use::Accepted,
        "no count: not a 0-RTT attempt"
    );
    assert_eq!(
        cur(3).await.unwrap(),
        Use::Accepted,
        "and it kept the count"
    );
    assert_eq!(cur(u32::MAX).await.unwrap(), Use::Accepted);
    assert_eq!(
        f.tokens("alice", "d1").await.unwrap()[0].last_count,
        Some(u32::MAX)
    );
    let other = f.record_use("alice", "d2", Slot::Current, None, 1).await;
    assert_eq!(other.unwrap(), Use::Gone);
}

/// Two uses with the same count at once (two nodes, or two connections): one only.
pub async fn concurrent_uses_of_one_count_accept_once(open: impl Opener) {
    let s = with_accounts(open, &["alice"]).await;
    s.fast.put_new(token("alice", "d1", 1)).await.unwrap();
    let first = s.fast.record_use("alice", "d1", Slot::New, Some(1), 1);
    assert_eq!(first.await.unwrap(), Use::Accepted);
    let tries = (0..8).map(|_| {
        let f = s.fast.clone();
        tokio::spawn(async move { f.record_use("alice", "d1", Slot::Current, Some(7), 2).await })
    });
    let mut accepted = 0;
    for t in tries {
        match t.await.unwrap().unwrap() {
            Use::Accepted => accepted += 1,
            Use::Replayed => {}
            Use::Gone => panic!("the token is there"),
        }
    }
    assert_eq!(accepted, 1);
}

pub async fn revoke_one_device_or_all(open: impl Opener) {
    let s = with_accounts(open, &["alice", "bob"]).await;
    let f = &s.fast;
    f.put_new(token("alice", "d1", 1)).await.unwrap();
    f.record_use("alice", "d1", Slot::New, None, 1)
        .await
        .unwrap();
    f.put_new(token("alice", "d1", 2)).await.unwrap();
    f.put_new(token("alice", "d2", 3)).await.unwrap();
    f.put_new(token("bob", "d1", 4)).await.unwrap();
    let listed: Vec<_> = f
        .list("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.device, t.slot))
        .collect();
    assert_eq!(
        listed,
        [
            ("d1".to_string(), Slot::Current),
            ("d1".to_string(), Slot::New),
            ("d2".to_string(), Slot::New)
        ]
    );
    assert_eq!(
        f.revoke("alice", Some("d1")).await.unwrap(),
        2,
        "both slots"
    );
    assert_eq!(f.revoke("alice", Some("d1")).await.unwrap(), 0);
    assert_eq!(f.list("alice").await.unwrap()[0].device, "d2");
    assert_eq!(f.revoke("alice", None).await.unwrap(), 1);
    assert!(f.list("alice").await.unwrap().is_empty());
    assert_eq!(f.list("bob").await.unwrap(), [token("bob", "d1", 4)]);
}

pub async fn tokens_need_an_account_and_go_with_it(open: impl Opener) {
    let s = with_accounts(open, &["alice", "bob"]).await;
    assert!(
        s.fast.put_new(token("carol", "d1", 1)).await.is_err(),
        "no token for an account that does not exist"
    );
    for u in ["alice", "bob"] {
        s.fast.put_new(token(u, "d1", 1)).await.unwrap();
    }
    assert!(s.accounts.remove("alice").await.unwrap());
    assert!(s.fast.list("alice").await.unwrap().is_empty());
    assert_eq!(s.fast.list("bob").await.unwrap().len(), 1);
    // A new account of the same name finds no token of the old one.
    assert!(s.accounts.create("alice", creds("pw")).await.unwrap());
    assert!(s.fast.tokens("alice", "d1").await.unwrap().is_empty());
}

/// The FAST service on the engine: a token works, then expires (`credentials-expired`),
/// and a revoked one is refused.
pub async fn the_service_refuses_expired_and_revoked_tokens(open: impl Opener) {
    let s = with_accounts(open, &["alice"]).await;
    let service = |lifetime_secs| {
        let cfg = crate::config::Fast {
            token_lifetime_secs: lifetime_secs,
            rotate_before_secs: 0,
            ..Default::default()
        };
        Fast::new(Key::from_bytes([9; 32]), Arc::clone(&s.fast), &cfg)
    };
    let attempt = |device: &str, token: &str| Attempt {
        user: "alice".into(),
        device: device.into(),
        mechanism: HT_SHA_256_NONE.into(),
        proof: initiator_proof(token, b""),
        count: Some(1),
        invalidate: false,
    };
    let dev = |id: &str| Device {
        id: id.into(),
        ..Device::default()
    };
    let expired = service(0)
        .issue("alice", &dev("d1"), HT_SHA_256_NONE)
        .await
        .unwrap();
    let f = service(3600);
    assert_eq!(
        f.authenticate(&attempt("d1", &expired.token)).await,
        Err("credentials-expired")
    );
    let live = f.issue("alice", &dev("d2"), HT_SHA_256_NONE).await.unwrap();
    assert!(f.authenticate(&attempt("d2", &live.token)).await.is_ok());
    assert_eq!(
        f.authenticate(&attempt("d2", &live.token)).await,
        Err("not-authorized"),
        "the same count again is a replay"
    );
    assert_eq!(f.revoke("alice", Some("d2")).await.unwrap(), 1);
    let mut later = attempt("d2", &live.token);
    later.count = Some(2);
    assert_eq!(f.authenticate(&later).await, Err("not-authorized"));
}
