//! The resumable sessions of the server, by SM-ID (XEP-0198 §5).
//!
//! Whoever holds a resumable session's state — its live connection, or the task that
//! keeps it while its client is away — also holds the receiving end of its takeover
//! channel. A connection that authenticated and asks to resume sends a [`Takeover`] there
//! and gets the whole state back on the reply channel; the live connection, if there was
//! still one, then ends with a `conflict` stream error. Sending through a channel rather
//! than taking the state out of this table means nothing is lost while the state moves
//! from the connection to the waiting task: a request waits in the channel.
//!
//! The state travels type-erased ([`Handover`]): this table lives in the context every
//! part of the server shares, which cannot name the c2s layer's types without an import
//! cycle; the c2s layer, the only sender and receiver, downcasts it.
//!
//! Sessions that ended are remembered for a while (bounded) with the count of stanzas
//! they handled from the client, so a late `<resume/>` gets `<failed h=…/>` and the client
//! learns which of its own stanzas arrived (XEP-0198 §5, "MAY include 'h'").

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A session's state on its way to the connection that resumes it.
pub type Handover = Box<dyn Any + Send>;

/// A request for a session's state.
pub struct Takeover {
    pub reply: oneshot::Sender<Handover>,
}

/// Why a resumption cannot even be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown {
    /// Stanzas the ended session handled from this client, when it is remembered.
    pub h: Option<u32>,
}

struct Live {
    user: String,
    tx: mpsc::Sender<Takeover>,
}

struct Ended {
    user: String,
    h: u32,
    at: Instant,
}

/// How many ended sessions are remembered, and for how long.
const ENDED_MAX: usize = 10_000;
const ENDED_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Default)]
pub struct Registry {
    live: Mutex<HashMap<String, Live>>,
    ended: Mutex<(HashMap<String, Ended>, VecDeque<String>)>,
}

impl Registry {
    /// A new resumable session of `user`: its SM-ID (128 random bits, unguessable) and
    /// the channel its holder must watch.
    pub fn register(&self, user: &str) -> (String, mpsc::Receiver<Takeover>) {
        let (tx, rx) = mpsc::channel(4);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let id = format!("{:032x}", rand::random::<u128>());
            if !live.contains_key(&id) {
                live.insert(
                    id.clone(),
                    Live {
                        user: user.to_owned(),
                        tx: tx.clone(),
                    },
                );
                return (id, rx);
            }
        }
    }

    /// Asks the holder of session `id` for its state, on behalf of `user` (the
    /// authenticated account: another account's SM-ID is as unknown as a made-up one).
    pub fn request(&self, id: &str, user: &str) -> Result<oneshot::Receiver<Handover>, Unknown> {
        let tx = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.get(id)
                .filter(|l| l.user == user)
                .map(|l| l.tx.clone())
        };
        let Some(tx) = tx else {
            return Err(Unknown {
                h: self.ended_h(id, user),
            });
        };
        let (reply, rx) = oneshot::channel();
        match tx.try_send(Takeover { reply }) {
            Ok(()) => Ok(rx),
            // Closed: it ended meanwhile; full: other resumptions are already queued.
            Err(_) => Err(Unknown {
                h: self.ended_h(id, user),
            }),
        }
    }

    /// Session `id` ended for good, having handled `h` stanzas from its client.
    pub fn forget(&self, id: &str, h: u32) {
        let removed = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        let Some(live) = removed else { return };
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *ended;
        map.insert(
            id.to_owned(),
            Ended {
                user: live.user,
                h,
                at: Instant::now(),
            },
        );
        order.push_back(id.to_owned());
        while order.len() > ENDED_MAX {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// How many resumable sessions there are (live or waiting).
    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn ended_h(&self, id: &str, user: &str) -> Option<u32> {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended
            .0
            .get(id)
            .filter(|e| e.user == user && e.at.elapsed() < ENDED_FOR)
            .map(|e| e.h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takeover_reaches_the_holder_and_only_for_its_account() {
        let reg = Registry::default();
        let (id, mut rx) = reg.register("alice");
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.request(&id, "bob").unwrap_err(), Unknown { h: None });
        assert_eq!(
            reg.request("nope", "alice").unwrap_err(),
            Unknown { h: None }
        );
        let answer = reg.request(&id, "alice").unwrap();
        let t = rx.recv().await.unwrap();
        t.reply.send(Box::new(42u32)).unwrap();
        let state = answer.await.unwrap();
        assert_eq!(*state.downcast::<u32>().unwrap(), 42);
    }

    #[tokio::test]
    async fn ended_sessions_answer_with_their_h() {
        let reg = Registry::default();
        let (id, rx) = reg.register("alice");
        reg.forget(&id, 7);
        drop(rx);
        assert!(reg.is_empty());
        assert_eq!(
            reg.request(&id, "alice").unwrap_err(),
            Unknown { h: Some(7) }
        );
        assert_eq!(reg.request(&id, "bob").unwrap_err(), Unknown { h: None });
    }

    #[tokio::test]
    async fn a_holder_that_went_away_is_unknown() {
        let reg = Registry::default();
        let (id, rx) = reg.register("alice");
        drop(rx);
        assert!(reg.request(&id, "alice").is_err());
    }

    #[test]
    fn ended_memory_is_bounded() {
        let reg = Registry::default();
        for _ in 0..ENDED_MAX + 10 {
            let (id, _rx) = reg.register("u");
            reg.forget(&id, 1);
        }
        let ended = reg.ended.lock().unwrap();
        assert_eq!(ended.0.len(), ENDED_MAX);
        assert_eq!(ended.1.len(), ENDED_MAX);
    }
}
