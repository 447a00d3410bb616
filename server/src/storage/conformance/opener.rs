//! What a conformance case gets: an [`Opener`] of fresh storage, and cheap credentials.

use std::future::Future;

use crate::storage::{Credentials, Storage};

/// Opens a fresh, empty storage whose offline queues hold `offline_max` messages per
/// account; any `Fn(u32) -> impl Future<Output = Storage>` is one.
pub trait Opener {
    fn open(&self, offline_max: u32) -> impl Future<Output = Storage>;
}

impl<Fut, F> Opener for F
where
    Fut: Future<Output = Storage>,
    F: Fn(u32) -> Fut,
{
    fn open(&self, offline_max: u32) -> impl Future<Output = Storage> {
        self(offline_max)
    }
}

/// Credentials cheap to derive (one PBKDF2 round): the suite tests storage, not SCRAM.
pub(crate) fn creds(password: &str) -> Credentials {
    Credentials::derive_with(password, b"0123456789abcdef", 1).expect("derive")
}
