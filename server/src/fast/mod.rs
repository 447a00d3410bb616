//! XEP-0484 FAST tokens on the server: issuing one after a password sign-in, checking one
//! presented with `HT-SHA-256-NONE`, rotating it near its expiry, and revoking a device's
//! (the CLI's `user fast revoke`; the HTTP API will call [`Fast::revoke`] too).
//!
//! [`policy`] decides (no I/O), [`key`] derives tokens from the server key, the
//! [`FastStore`] keeps them (`storage/fast.rs`). The wire elements are
//! `mucsub_protocol::fast`'s; the SASL2 negotiation (`c2s/negotiate_sasl2.rs`) asks for
//! the steps here through its driver.

pub mod key;
pub mod policy;

use crate::config::Config;
use crate::storage::{FastStore, FastToken, Slot, Use};
use key::Key;
use mucsub_protocol::fast::HT_SHA_256_NONE;
use policy::{Candidate, Verdict};
use std::sync::Arc;

/// The token mechanisms offered.
pub const MECHANISMS: [&str; 1] = [HT_SHA_256_NONE];

/// The device a token is bound to: the SASL2 `<user-agent/>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// `<user-agent id>` (a UUID).
    pub id: String,
    pub software: Option<String>,
    pub name: Option<String>,
}

/// A token just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub expires_ms: i64,
}

/// A FAST authentication to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub user: String,
    pub device: String,
    pub mechanism: String,
    /// HMAC(token, "Initiator"), from the initial response.
    pub proof: Vec<u8>,
    /// `<fast count/>`.
    pub count: Option<u32>,
    /// `<fast invalidate='true'/>`.
    pub invalidate: bool,
}

/// A FAST authentication that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The success's `<additional-data/>`.
    pub responder: Vec<u8>,
    /// A replacement token should go out in the same success.
    pub rotate: bool,
}

pub struct Fast {
    key: Key,
    store: Arc<dyn FastStore>,
    enabled: bool,
    lifetime_ms: i64,
    rotate_before_ms: i64,
}

impl Fast {
    pub fn new(key: Key, store: Arc<dyn FastStore>, config: &crate::config::Fast) -> Fast {
        Fast {
            key,
            store,
            enabled: config.enabled,
            lifetime_ms: (config.token_lifetime_secs as i64).saturating_mul(1000),
            rotate_before_ms: (config.rotate_before_secs as i64).saturating_mul(1000),
        }
    }

    /// The key from `[fast] key_file` and the storage's token store.
    pub fn open(config: &Config, store: Arc<dyn FastStore>) -> anyhow::Result<Arc<Fast>> {
        let key = Key::load_or_create(&config.fast_key_path())?;
        Ok(Arc::new(Fast::new(key, store, &config.fast)))
    }

    /// The mechanisms to advertise inside SASL2 (none when `[fast] enabled` is off).
    pub fn mechanisms(&self) -> &'static [&'static str] {
        if self.enabled {
            &MECHANISMS
        } else {
            &[]
        }
    }

    /// Issues a token for `device`, waiting in its `New` slot until first used.
    pub async fn issue(
        &self,
        user: &str,
        device: &Device,
        mechanism: &str,
    ) -> anyhow::Result<Issued> {
        let nonce: [u8; 32] = rand::random();
        let token = self.key.token(&nonce);
        let now = crate::time::now_millis();
        let expires_ms = now.saturating_add(self.lifetime_ms);
        self.store
            .put_new(FastToken {
                user: user.to_owned(),
                device: device.id.clone(),
                slot: Slot::New,
                mechanism: mechanism.to_owned(),
                nonce: nonce.to_vec(),
                token_hash: key::token_hash(&token),
                created_ms: now,
                expires_ms,
                last_count: None,
                last_used_ms: None,
                software: device.software.clone(),
                device_name: device.name.clone(),
            })
            .await?;
        Ok(Issued { token, expires_ms })
    }

    /// Checks a token authentication; `Err` is the SASL failure condition.
    pub async fn authenticate(&self, a: &Attempt) -> Result<Accepted, &'static str> {
        if !self.enabled || !MECHANISMS.contains(&a.mechanism.as_str()) {
            return Err("invalid-mechanism");
        }
        // A new token's first use moves it to the current slot. Two connections of one
        // device may both present it at once (a page and its push registration): the
        // second then finds the new slot empty, and is checked once more against what is
        // stored now — the same token, current by then.
        let mut retried = false;
        let (responder, rotate) = loop {
            let stored = self.store.tokens(&a.user, &a.device).await.map_err(|e| {
                tracing::error!(error = %e, "FAST token lookup failed");
                "temporary-auth-failure"
            })?;
            let candidates: Vec<Candidate<'_>> = stored
                .iter()
                .map(|t| Candidate {
                    stored: t,
                    token: self.key.token(&t.nonce),
                })
                .collect();
            let now = crate::time::now_millis();
            let (slot, responder, rotate) = match policy::check(
                &candidates,
                &a.mechanism,
                &a.proof,
                now,
                self.rotate_before_ms,
            ) {
                Verdict::Accept {
                    slot,
                    responder,
                    rotate,
                } => (slot, responder, rotate),
                Verdict::Refuse(cond) => return Err(cond),
            };
            if a.count.is_none() && slot == Slot::Current && !a.invalidate {
                // Nothing here must be on disk before the success: no replay counter, no token
                // to retire. Only the time of last use is kept, written in the background, so
                // the common wake costs no commit.
                let (store, user, device) = (self.store.clone(), a.user.clone(), a.device.clone());
                tokio::spawn(async move {
                    if let Err(e) = store.record_use(&user, &device, slot, None, now).await {
                        tracing::warn!(error = %e, "recording a FAST token use failed");
                    }
                });
                return Ok(Accepted { responder, rotate });
            }
            // A counted use (its count must be on disk before a replay could be tried) or the
            // first use of a new token (which retires the old one): committed first.
            let used = self
                .store
                .record_use(&a.user, &a.device, slot, a.count, now)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "recording a FAST token use failed");
                    "temporary-auth-failure"
                })?;
            match used {
                Use::Accepted => {}
                Use::Replayed => {
                    tracing::warn!(
                        user = a.user,
                        count = a.count,
                        "FAST authentication replayed"
                    );
                    return Err("not-authorized");
                }
                Use::Gone if slot == Slot::New && !retried => {
                    retried = true;
                    continue;
                }
                Use::Gone => return Err("not-authorized"),
            }
            break (responder, rotate);
        };
        if a.invalidate {
            // XEP-0484 §4.5: the token stops working now (the device's other slot too: the
            // client is signing out, and a token it never received is of no use to it).
            self.store
                .revoke(&a.user, Some(&a.device))
                .await
                .map_err(|_| "temporary-auth-failure")?;
            return Ok(Accepted {
                responder,
                rotate: false,
            });
        }
        Ok(Accepted { responder, rotate })
    }

    /// Revokes one device's tokens (`Some`) or all of the account's; how many were removed.
    pub async fn revoke(&self, user: &str, device: Option<&str>) -> anyhow::Result<u64> {
        self.store.revoke(user, device).await
    }

    /// The account's tokens, for listings (no secrets in them).
    pub async fn list(&self, user: &str) -> anyhow::Result<Vec<FastToken>> {
        self.store.list(user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::BoxFuture;
    use mucsub_protocol::fast::initiator_proof;

    async fn service(lifetime: u64, rotate_before: u64) -> Fast {
        let storage = crate::storage::sqlite::open_in_memory(10).await.unwrap();
        let creds = crate::storage::Credentials::derive_with("pw", b"salt", 1).unwrap();
        assert!(storage.accounts.create("alice", creds).await.unwrap());
        let store = storage.fast;
        let cfg = crate::config::Fast {
            token_lifetime_secs: lifetime,
            rotate_before_secs: rotate_before,
            ..Default::default()
        };
        Fast::new(Key::from_bytes([3; 32]), store, &cfg)
    }

    fn device() -> Device {
        Device {
            id: "d4565fa7-4d72-4749-b3d3-740edbf87770".into(),
            ..Device::default()
        }
    }

    fn attempt(token: &str, count: Option<u32>) -> Attempt {
        Attempt {
            user: "alice".into(),
            device: device().id,
            mechanism: HT_SHA_256_NONE.into(),
            proof: initiator_proof(token, b""),
            count,
            invalidate: false,
        }
    }

    #[tokio::test]
    async fn issue_use_rotate_and_revoke() {
        let f = service(3600, 0).await;
        let first = f.issue("alice", &device(), HT_SHA_256_NONE).await.unwrap();
        let ok = f
            .authenticate(&attempt(&first.token, Some(1)))
            .await
            .unwrap();
        assert!(!ok.rotate);
        // A replayed count is refused, a later one accepted.
        assert_eq!(
            f.authenticate(&attempt(&first.token, Some(1))).await,
            Err("not-authorized")
        );
        f.authenticate(&attempt(&first.token, Some(2)))
            .await
            .unwrap();
        // A second token: both work until the second is used, then only the second.
        let second = f.issue("alice", &device(), HT_SHA_256_NONE).await.unwrap();
        f.authenticate(&attempt(&first.token, None)).await.unwrap();
        f.authenticate(&attempt(&second.token, None)).await.unwrap();
        assert_eq!(
            f.authenticate(&attempt(&first.token, None)).await,
            Err("not-authorized")
        );
        // Another device does not hold it.
        let mut other = attempt(&second.token, None);
        other.device = "00000000-0000-0000-0000-000000000000".into();
        assert_eq!(f.authenticate(&other).await, Err("not-authorized"));
        assert_eq!(f.revoke("alice", Some(&device().id)).await.unwrap(), 1);
        assert_eq!(
            f.authenticate(&attempt(&second.token, None)).await,
            Err("not-authorized")
        );
    }

    #[tokio::test]
    async fn invalidate_signs_the_device_out() {
        let f = service(3600, 0).await;
        let t = f.issue("alice", &device(), HT_SHA_256_NONE).await.unwrap();
        let mut a = attempt(&t.token, None);
        a.invalidate = true;
        f.authenticate(&a).await.unwrap();
        assert_eq!(
            f.authenticate(&attempt(&t.token, None)).await,
            Err("not-authorized")
        );
    }

    #[tokio::test]
    async fn expiry_and_rotation() {
        let f = service(0, 0).await;
        let t = f.issue("alice", &device(), HT_SHA_256_NONE).await.unwrap();
        assert_eq!(
            f.authenticate(&attempt(&t.token, None)).await,
            Err("credentials-expired")
        );
        let f = service(3600, 7200).await;
        let t = f.issue("alice", &device(), HT_SHA_256_NONE).await.unwrap();
        assert!(
            f.authenticate(&attempt(&t.token, None))
                .await
                .unwrap()
                .rotate
        );
    }

    /// The real store, except that the first read is followed at once by another
    /// connection's first use of the new token (it moves to the current slot): the race of
    /// a page and its push registration signing in with a just-issued token together.
    struct UsedMeanwhile {
        inner: Arc<dyn FastStore>,
        raced: std::sync::atomic::AtomicBool,
    }

    impl FastStore for UsedMeanwhile {
        fn tokens<'a>(
            &'a self,
            user: &'a str,
            device: &'a str,
        ) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>> {
            Box::pin(async move {
                let read = self.inner.tokens(user, device).await?;
                if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let now = crate::time::now_millis();
                    let used = self.inner.record_use(user, device, Slot::New, None, now);
                    assert_eq!(used.await?, Use::Accepted);
                }
                Ok(read)
            })
        }
        fn put_new(&self, token: FastToken) -> BoxFuture<'_, anyhow::Result<()>> {
            self.inner.put_new(token)
        }
        fn record_use<'a>(
            &'a self,
            user: &'a str,
            device: &'a str,
            slot: Slot,
            count: Option<u32>,
            now_ms: i64,
        ) -> BoxFuture<'a, anyhow::Result<Use>> {
            self.inner.record_use(user, device, slot, count, now_ms)
        }
        fn revoke<'a>(
            &'a self,
            user: &'a str,
            device: Option<&'a str>,
        ) -> BoxFuture<'a, anyhow::Result<u64>> {
            self.inner.revoke(user, device)
        }
        fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>> {
            self.inner.list(user)
        }
    }

    #[tokio::test]
    async fn a_new_token_used_by_two_connections_at_once_is_accepted_by_both() {
        let storage = crate::storage::sqlite::open_in_memory(10).await.unwrap();
        let creds = crate::storage::Credentials::derive_with("pw", b"salt", 1).unwrap();
        assert!(storage.accounts.create("alice", creds).await.unwrap());
        let store = Arc::new(UsedMeanwhile {
            inner: storage.fast,
            raced: false.into(),
        });
        let f = Fast::new(
            Key::from_bytes([3; 32]),
            store,
            &crate::config::Fast::default(),
        );
        let t = f.issue("alice", &device(), HT_SHA_256_NONE).await.unwrap();
        // Its read saw the token new; by its commit the other connection had made it current.
        f.authenticate(&attempt(&t.token, None)).await.unwrap();
        f.authenticate(&attempt(&t.token, None)).await.unwrap();
    }
}
