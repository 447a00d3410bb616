//! What a follower tab last showed of each message (src/wasm/tabs.rs): a fingerprint of the
//! fields a change alters, taken from the `event` and `update` payloads it fired. A tab
//! taking the lead compares it with the stored message (src/wasm/calls.rs) and fires
//! `update` for a change the crashed leader stored but never broadcast.

use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::JsValue;

use crate::keyed::Keyed;

/// How many of a room's newest stored events a new leader compares with what it saw.
pub(super) const REPLAY_WINDOW: usize = 200;

/// Fingerprints kept per room: a message is kept under both its ids, so this covers the
/// newest [`REPLAY_WINDOW`] messages; older ones are outside what a new leader compares.
const KEEP: usize = 2 * REPLAY_WINDOW;

/// The fields of a message that a correction, retraction, moderation or reaction changes
/// (docs/js-api.md, `RoomEvent`).
const CHANGED: [&str; 5] = ["body", "edited", "retracted", "moderated", "reactions"];

/// A room's fingerprints, by message id (stanza id and sender's id).
#[derive(Default)]
pub(super) struct Shown {
    by_key: Keyed<Mark>,
}

#[derive(Clone, Copy)]
struct Mark {
    timestamp: f64,
    print: u64,
}

impl Shown {
    /// Remember the state a `message` event or update payload `message` showed.
    pub(super) fn record(&mut self, message: &JsValue) {
        if get(message, "kind").as_string().as_deref() != Some("message") {
            return;
        }
        let Some(print) = fingerprint(message) else {
            return;
        };
        let timestamp = get(message, "timestamp").as_f64().unwrap_or(0.0);
        for key in ["stanzaId", "id"] {
            if let Some(k) = get(message, key).as_string() {
                self.by_key.insert(k, Mark { timestamp, print });
            }
        }
        // Trimmed in batches, to the newest KEEP: a sort per recorded message would cost a
        // follower more than the events it fires.
        if self.by_key.len() > KEEP + KEEP / 4 {
            let mut times: Vec<f64> = self.by_key.values().map(|m| m.timestamp).collect();
            // The crate's one shared sort: a `sort_by` of its own would add a driftsort copy.
            crate::sort::sort_by(&mut times, f64::total_cmp);
            let oldest_kept = times[times.len() - KEEP];
            self.by_key.retain(|_, m| m.timestamp >= oldest_kept);
        }
    }

    /// Whether this tab showed the message with these ids (and still remembers it).
    pub(super) fn has(&self, stanza_id: Option<&str>, id: Option<&str>) -> bool {
        self.mark(stanza_id, id).is_some()
    }

    /// Whether this tab showed the message with these ids in another state than `now` (a
    /// `message` as the store has it now); `false` when it showed none of it.
    pub(super) fn differs(&self, stanza_id: Option<&str>, id: Option<&str>, now: &JsValue) -> bool {
        match (self.mark(stanza_id, id), fingerprint(now)) {
            (Some(m), Some(print)) => m.print != print,
            _ => false,
        }
    }

    /// The stanza id's mark first: an `update` is keyed by it once the message has one.
    fn mark(&self, stanza_id: Option<&str>, id: Option<&str>) -> Option<&Mark> {
        [stanza_id, id]
            .into_iter()
            .flatten()
            .find_map(|k| self.by_key.get(k))
    }
}

/// The changed fields of `message` as JSON, hashed (FNV-1a): both sides of a comparison are
/// serialized the same way (`to_js`: maps as objects, fields in declaration order, keys of
/// `reactions` sorted), and a structured clone over the channel keeps that order.
fn fingerprint(message: &JsValue) -> Option<u64> {
    let fields: Array = CHANGED.iter().map(|k| get(message, k)).collect();
    let json = JSON::stringify(&fields).ok()?.as_string()?;
    Some(json.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }))
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}
