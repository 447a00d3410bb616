//! Stanzas for rooms another live node owns, forwarded to that node over NATS (issue 19):
//! one queue and one task per owner incarnation, so the stanzas of a sender keep their
//! order and a slow or dead owner never holds up the registry. A stanza the owner does
//! not take (it is gone, NATS is down, it did not answer in time) gets a `wait` error:
//! the client tries again, and meets the room on whichever node owns it then.

use std::collections::HashMap;

use minidom::Element;
use tokio::sync::mpsc;

use super::shared::Shared;
use crate::stanza::{self, ErrorType, Refusal};

/// How many stanzas may wait for one owner before more are refused with `wait`.
const QUEUE: usize = 1024;

#[derive(Default)]
pub(super) struct Forwarder {
    queues: HashMap<i64, mpsc::Sender<Element>>,
}

impl Forwarder {
    /// Sends `stanza` to the room's owner, incarnation `owner`.
    pub(super) async fn forward(&mut self, shared: &Shared, owner: i64, stanza: Element) {
        let tx = self
            .queues
            .entry(owner)
            .or_insert_with(|| spawn_queue(shared.clone(), owner))
            .clone();
        if let Err(e) = tx.try_send(stanza) {
            let stanza = match e {
                mpsc::error::TrySendError::Full(s) | mpsc::error::TrySendError::Closed(s) => s,
            };
            refuse(
                shared,
                &stanza,
                "The room's node is busy; try again shortly",
            )
            .await;
        }
    }
}

fn spawn_queue(shared: Shared, owner: i64) -> mpsc::Sender<Element> {
    let (tx, mut rx) = mpsc::channel::<Element>(QUEUE);
    tokio::spawn(async move {
        while let Some(stanza) = rx.recv().await {
            let Some(cluster) = shared.cluster.as_ref() else {
                return;
            };
            let room = room_of(&stanza);
            match cluster
                .forward_room(&room, owner, stanza::to_xml(&stanza))
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    refuse(
                        &shared,
                        &stanza,
                        "The room's node did not take it; try again",
                    )
                    .await
                }
                Err(e) => {
                    tracing::debug!(owner, error = %e, "forwarding to the room's owner failed");
                    refuse(
                        &shared,
                        &stanza,
                        "The room's node cannot be reached; try again shortly",
                    )
                    .await
                }
            }
        }
    });
    tx
}

/// The room (localpart) `stanza` is addressed to.
fn room_of(stanza: &Element) -> String {
    let to = stanza.attr("to").and_then(|t| jid::Jid::new(t).ok());
    to.and_then(|j| j.node().map(|n| n.as_str().to_owned()))
        .unwrap_or_default()
}

/// Answers `stanza` with a `wait` error, unless it is one that gets no answer.
async fn refuse(shared: &Shared, stanza: &Element, text: &str) {
    let t = stanza.attr("type");
    let answerable = match stanza.name() {
        "presence" => t.is_none(),
        _ => t != Some("error") && t != Some("result"),
    };
    if answerable {
        let r = Refusal::new(ErrorType::Wait, "resource-constraint", text);
        shared.outlet.send(r.reply_to(stanza)).await;
    }
}
