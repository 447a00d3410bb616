//! The session table: every bound resource of every account, with its queue, its
//! broadcast presence (available, priority) and its XEP-0352 state. Lookups of the
//! sessions a stanza reaches go through one filter ([`SessionTable::targets`]).

use crate::stanza::Outgoing;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::mpsc;

/// Lets the router end a session whatever the state of its queue: a newer session took
/// its resource, or it does not read fast enough for its queue.
#[derive(Default)]
pub struct SessionControl {
    notify: tokio::sync::Notify,
    reason: std::sync::Mutex<Option<&'static str>>,
}

impl SessionControl {
    /// Asks the session to end with this stream error condition (the first reason wins).
    pub fn kick(&self, condition: &'static str) {
        {
            let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() {
                *r = Some(condition);
            }
        }
        self.notify.notify_one();
    }

    /// The condition, if [`SessionControl::kick`] was called.
    pub fn reason(&self) -> Option<&'static str> {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves with the condition once [`SessionControl::kick`] was called.
    pub async fn kicked(&self) -> &'static str {
        loop {
            if let Some(r) = self.reason() {
                return r;
            }
            self.notify.notified().await;
        }
    }
}

/// Where a session's stanzas go.
#[derive(Clone)]
pub(super) struct Target {
    tx: mpsc::Sender<Outgoing>,
    control: Arc<SessionControl>,
}

impl Target {
    /// Queues without waiting. A full queue means the client does not read what it is sent:
    /// it is disconnected (it resyncs from the archives when it comes back) rather than
    /// silently missing stanzas such as IQ results.
    pub(super) fn offer(&self, out: Outgoing) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("session queue full; disconnecting the slow client");
                self.control.kick("policy-violation");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// A session as the router sees it.
pub(super) struct Entry {
    id: u64,
    resource: String,
    target: Target,
    pub(super) available: bool,
    pub(super) priority: i32,
    /// XEP-0352: the client said it is in the background.
    pub(super) inactive: bool,
    /// Its connection was lost and it waits to be resumed (XEP-0198, c2s/hibernate.rs).
    pub(super) waiting: bool,
}

impl Entry {
    /// Reached by a stanza to the account's bare JID: available, priority >= 0.
    pub(super) fn receives_bare(&self) -> bool {
        self.available && self.priority >= 0
    }

    pub(super) fn resource(&self) -> &str {
        &self.resource
    }

    /// Whether this session is bound to one of `resources`.
    pub(super) fn is_one_of(&self, resources: &[String]) -> bool {
        resources.contains(&self.resource)
    }
}

/// Returned by [`crate::router::Router::register_session`].
pub struct Registered {
    pub id: u64,
    pub resource: String,
    /// Resolves when the router wants the session to end.
    pub control: Arc<SessionControl>,
}

/// Sessions by account localpart.
#[derive(Default)]
pub(super) struct SessionTable {
    sessions: RwLock<HashMap<String, Vec<Entry>>>,
    next_id: AtomicU64,
}

impl SessionTable {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Vec<Entry>>> {
        self.sessions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Vec<Entry>>> {
        self.sessions.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session unless the account already has `max` other resources bound (`max`
    /// 0: no limit). A session already holding that resource is kicked with `conflict`
    /// (RFC 6120 7.7.2.2, the "override" policy); taking over is always allowed.
    pub(super) fn register(
        &self,
        user: &str,
        resource: &str,
        tx: mpsc::Sender<Outgoing>,
        max: usize,
    ) -> Option<Registered> {
        // Ids start at 1.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut sessions = self.write();
        let list = sessions.entry(user.to_owned()).or_default();
        let replaces = list.iter().position(|e| e.resource == resource);
        if max > 0 && replaces.is_none() && list.len() >= max {
            // At the limit, a session waiting to be resumed gives way (the oldest first):
            // its client is gone, possibly for good (a page reloaded without `pagehide`
            // leaves one behind each time), and it must not lock its own account out for
            // the resumption timeout. It ends as on timeout: what it never got
            // acknowledged goes to offline storage.
            let Some(pos) = list
                .iter()
                .enumerate()
                .filter(|(_, e)| e.waiting)
                .min_by_key(|(_, e)| e.id)
                .map(|(i, _)| i)
            else {
                if list.is_empty() {
                    sessions.remove(user);
                }
                return None;
            };
            let old = list.remove(pos);
            old.target.control.kick("resource-constraint");
        }
        if let Some(pos) = replaces {
            let old = list.remove(pos);
            old.target.control.kick("conflict");
        }
        let control = Arc::new(SessionControl::default());
        list.push(Entry {
            id,
            resource: resource.to_owned(),
            target: Target {
                tx,
                control: control.clone(),
            },
            available: false,
            priority: 0,
            inactive: false,
            waiting: false,
        });
        Some(Registered {
            id,
            resource: resource.to_owned(),
            control,
        })
    }

    /// Removes session `id`; returns its resource when no other session holds it now
    /// (one that took the resource over keeps it bound).
    pub(super) fn unregister(&self, user: &str, id: u64) -> Option<String> {
        let mut sessions = self.write();
        let list = sessions.get_mut(user)?;
        let pos = list.iter().position(|e| e.id == id)?;
        let gone = list.remove(pos);
        let still = list.iter().any(|e| e.resource == gone.resource);
        if list.is_empty() {
            sessions.remove(user);
        }
        (!still).then_some(gone.resource)
    }

    /// Asks every session of `user` to end with the stream error `condition`; how many.
    pub(super) fn kick_all(&self, user: &str, condition: &'static str) -> usize {
        self.read().get(user).map_or(0, |list| {
            for e in list {
                e.target.control.kick(condition);
            }
            list.len()
        })
    }

    /// Changes session `id` of `user`, if it is still registered.
    pub(super) fn update(&self, user: &str, id: u64, change: impl FnOnce(&mut Entry)) {
        let mut sessions = self.write();
        if let Some(e) = sessions
            .get_mut(user)
            .and_then(|l| l.iter_mut().find(|e| e.id == id))
        {
            change(e);
        }
    }

    /// Whether `check` holds for the account's sessions (false when it has none).
    /// Calls `f` with every bound session (account, entry), under the table's lock.
    pub(super) fn each(&self, mut f: impl FnMut(&str, &Entry)) {
        for (user, list) in self.read().iter() {
            for e in list {
                f(user, e);
            }
        }
    }

    pub(super) fn check(&self, user: &str, check: impl FnOnce(&[Entry]) -> bool) -> bool {
        self.read().get(user).is_some_and(|l| check(l))
    }

    /// The queues of the account's sessions that `pick` selects.
    pub(super) fn targets(&self, user: &str, pick: impl Fn(&Entry) -> bool) -> Vec<Target> {
        self.read()
            .get(user)
            .map(|l| {
                l.iter()
                    .filter(|e| pick(e))
                    .map(|e| e.target.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The queue of `user`'s session bound to `resource`.
    pub(super) fn full_target(&self, user: &str, resource: &str) -> Option<Target> {
        let sessions = self.read();
        let entry = sessions
            .get(user)?
            .iter()
            .find(|e| e.resource == resource)?;
        Some(entry.target.clone())
    }
}
