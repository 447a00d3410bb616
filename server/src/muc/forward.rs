//! Stanzas for rooms another live node owns, forwarded to that node over NATS (issue 19):
//! one queue and one task per owner incarnation, so the stanzas of a sender keep their
//! order and a slow or dead owner never holds up the registry. What queued for an owner
//! while its last request was out goes in the next one, together and in order: a burst
//! from one sender reaches the room in a few requests, so the room takes it in a few
//! batches (and fans it out in a few rounds) rather than one stanza per round trip. A
//! stanza the owner does not take (it is gone, NATS is down, it did not answer in time)
//! gets a `wait` error: the client tries again, and meets the room on whichever node owns
//! it then.

use std::collections::HashMap;

use minidom::Element;
use tokio::sync::mpsc;

use super::shared::Shared;
use crate::stanza::{self, ErrorType, Refusal};

/// How many stanzas may wait for one owner before more are refused with `wait`.
const QUEUE: usize = 1024;

/// Most stanzas in one request (as many as a room commits together).
const REQUEST_STANZAS: usize = 256;

/// Most bytes of stanzas in one request (NATS refuses messages over its `max_payload`,
/// 1 MiB by default, and JSON may escape some of the text); a stanza alone may exceed it.
const REQUEST_BYTES: usize = 256 * 1024;

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
        // A stanza taken off the queue that did not fit in the last request.
        let mut next: Option<(Element, String)> = None;
        loop {
            let first = match next.take() {
                Some(s) => s,
                None => match rx.recv().await {
                    Some(s) => {
                        let xml = stanza::to_xml(&s);
                        (s, xml)
                    }
                    None => return,
                },
            };
            let Some(cluster) = shared.cluster.as_ref() else {
                return;
            };
            let mut bytes = first.1.len();
            let mut batch = vec![first];
            while batch.len() < REQUEST_STANZAS {
                let Ok(s) = rx.try_recv() else { break };
                let xml = stanza::to_xml(&s);
                if bytes + xml.len() > REQUEST_BYTES {
                    next = Some((s, xml));
                    break;
                }
                bytes += xml.len();
                batch.push((s, xml));
            }
            let (stanzas, sent): (Vec<Element>, Vec<(String, String)>) = batch
                .into_iter()
                .map(|(s, xml)| {
                    let room = room_of(&s);
                    (s, (room, xml))
                })
                .unzip();
            match cluster.forward_rooms(owner, sent).await {
                Ok(taken) => {
                    for (stanza, yes) in stanzas.iter().zip(taken) {
                        if !yes {
                            let text = "The room's node did not take it; try again";
                            refuse(&shared, stanza, text).await;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(owner, error = %e, "forwarding to the room's owner failed");
                    for stanza in &stanzas {
                        let text = "The room's node cannot be reached; try again shortly";
                        refuse(&shared, stanza, text).await;
                    }
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
