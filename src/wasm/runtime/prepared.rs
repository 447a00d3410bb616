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

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::protocol::time::Timestamp;
    use crate::wasm::js_types::to_js;

    const ROOM: &str = "room@conference.localhost";

    fn joined(id: &str, payload: &str) -> RoomEvent {
        let xml = format!(
            "<message xmlns='jabber:client' type='groupchat' from='{ROOM}/alice' id='{id}'>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='s-{id}'/>\
             <occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ'/>{payload}</message>"
        );
        RoomEvent::from_joined(&xml.parse().unwrap(), Timestamp(1_733_550_000_123)).unwrap()
    }

    fn text(v: &JsValue) -> String {
        js_sys::JSON::stringify(v).unwrap().into()
    }

    /// The batch's values are the objects serde-wasm-bindgen built one by one: the same
    /// fields, values and order, for every kind of message part and awkward text.
    #[wasm_bindgen_test]
    fn batch_values_are_the_objects_built_one_by_one() {
        let evs = [
            joined(
                "m1",
                "<body>\"quoted\" \\ back\nslash \u{2028} é 👍 &lt;x&gt;</body>",
            ),
            joined(
                "m2",
                "<body>&gt; hi\nhello</body>\
                 <reply xmlns='urn:xmpp:reply:0' to='room@conference.localhost/bob' id='s-m1'/>\
                 <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>\
                 <body start='0' end='5'/></fallback>",
            ),
            joined(
                "m3",
                "<body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>",
            ),
            joined(
                "m4",
                "<reactions xmlns='urn:xmpp:reactions:0' id='s-m1'>\
                 <reaction>👍</reaction><reaction>🎉</reaction></reactions>",
            ),
            joined("m5", "<subject>the topic</subject>"),
        ];
        let mut values = Values::build(evs.iter());
        for ev in &evs {
            let one = to_js(&JsRoomEvent::from_event(ev)).unwrap();
            assert_eq!(text(&values.take().unwrap()), text(&one));
        }
        assert!(values.take().is_none());
    }

    /// A value nobody listened for when the batch was prepared is not built, and the count
    /// still moves on, so the values after it stay in place.
    #[wasm_bindgen_test]
    fn unbuilt_values_keep_the_count() {
        let mut none = Values::default();
        assert!(none.take().is_none());
        assert!(none.take().is_none());
        assert_eq!(none.next, 2);
    }
}
