//! The `event` and `update` values of a stored batch, built together: every event of the
//! batch in one JSON text, which the browser's `JSON.parse` turns into the objects at once.
//! Built one by one through serde-wasm-bindgen, each field of each event was a call across
//! the wasm boundary and each string its own `TextDecoder.decode`, whose fixed cost per
//! call made the callbacks about a tenth of the live benchmark's profile (issue 24).
//! The objects are the same: every optional field of [`JsRoomEvent`] is left out when
//! absent, and maps are objects either way.

use js_sys::Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;
use crate::wasm::js_types::JsRoomEvent;

use super::hub::Shared;
use super::lane::Done;

/// One kind of value (`event` or `update`) of a batch, in the order they are reported.
#[derive(Default)]
struct Values {
    /// `None` when nobody listened as the batch was prepared (or the text did not parse).
    built: Option<Array>,
    next: u32,
}

impl Values {
    fn build<'a>(evs: impl Iterator<Item = &'a RoomEvent>) -> Values {
        let all: Vec<JsRoomEvent> = evs.map(JsRoomEvent::from_event).collect();
        let built = match serde_json::to_string(&all) {
            Ok(text) if !all.is_empty() => js_sys::JSON::parse(&text)
                .ok()
                .map(Array::unchecked_from_js),
            _ => None,
        };
        Values { built, next: 0 }
    }

    /// The next value; the count moves on whether or not it was built, so a listener
    /// added or removed by a callback in the middle of the batch shifts nothing.
    fn take(&mut self) -> Option<JsValue> {
        let i = self.next;
        self.next += 1;
        let built = self.built.as_ref()?;
        (i < built.length()).then(|| built.get(i))
    }
}

/// The values of one batch, handed out in report order by [`super::report::Reporter`].
#[derive(Default)]
pub(super) struct Prepared {
    events: Values,
    updates: Values,
}

impl Prepared {
    /// Build the values of `done`'s stored pages that somebody listens for now.
    pub(super) fn of(shared: &Shared, done: &[Done]) -> Prepared {
        let applied = || {
            done.iter().filter_map(|d| match d {
                Done::Page(_, Ok(a)) => Some(a),
                _ => None,
            })
        };
        let mut out = Prepared::default();
        if shared.listening("event") {
            out.events = Values::build(applied().flat_map(|a| a.fresh.iter()));
        }
        if shared.listening("update") {
            out.updates = Values::build(applied().flat_map(|a| a.updated.iter()));
        }
        out
    }

    /// The next `event` value, if built.
    pub(super) fn event(&mut self) -> Option<JsValue> {
        self.events.take()
    }

    /// The next `update` value, if built.
    pub(super) fn update(&mut self) -> Option<JsValue> {
        self.updates.take()
    }
}
