//! `src/wasm/js_de.rs` reads stored records and the app's string lists in place of
//! serde-wasm-bindgen's deserializer: for every type it reads, it must accept what that
//! deserializer accepted and refuse what it refused. Each value below is written as the
//! store writes it (JSON, then `JSON.parse`), then every field, at every depth, is removed
//! and set to `null` and to a value of each JSON type in turn, and both deserializers are
//! compared on the result; a JS `Map` and a `Set` stand for the iterables an app (or an old
//! record) may hold.

use std::fmt::Debug;

use mucsub::event::{Change, EventKind, Moderator, ReplyTo, Retraction, RoomEvent, Source};
use mucsub::protocol::time::Timestamp;
use mucsub::protocol::Node;
use mucsub::store::{Cursor, Gap, ReadMarker, SubscriptionRecord};
use mucsub::wasm::js_de;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

fn js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

/// Both readers on `v`; the number of values read (not refused).
fn same<T: DeserializeOwned + PartialEq + Debug>(v: &JsValue, what: &str) -> usize {
    let ours = js_de::from_value::<T>(v.clone()).ok();
    let theirs = serde_wasm_bindgen::from_value::<T>(v.clone()).ok();
    assert_eq!(ours, theirs, "{what}");
    usize::from(ours.is_some())
}

/// Every path to a value inside `v` (objects' fields and arrays' items), depth first.
fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (k, child) in children {
        let mut p = at.clone();
        p.push(k);
        out.push(p.clone());
        paths(child, p, out);
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        _ => v.get_mut(k.as_str()).unwrap(),
    })
}

/// `value` and its variations through both readers; how many of them were read.
fn variations<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) -> (usize, usize) {
    let full = serde_json::to_value(value).unwrap();
    assert_eq!(same::<T>(&js(&full), "as written"), 1);
    let replacements = [
        Value::Null,
        json!(true),
        json!(0),
        json!(7),
        json!(-3),
        json!(1.5),
        json!(9007199254740993u64),
        json!(""),
        json!("live"),
        json!("message"),
        json!("edit"),
        json!("messages"),
        json!([]),
        json!(["a", "b"]),
        json!([["a", ["b"]]]),
        json!({}),
        json!({"type": "system"}),
        json!({"a": ["b"]}),
    ];
    let mut all = Vec::new();
    paths(&full, Vec::new(), &mut all);
    let (mut read, mut tried) = (0, 0);
    for p in &all {
        let mut removed = full.clone();
        let (last, parent) = p.split_last().unwrap();
        match at(&mut removed, parent) {
            Value::Object(o) => {
                o.remove(last);
            }
            Value::Array(a) => {
                a.remove(last.parse::<usize>().unwrap());
            }
            _ => unreachable!(),
        }
        read += same::<T>(&js(&removed), &format!("without {p:?}"));
        tried += 1;
        for r in &replacements {
            let mut changed = full.clone();
            *at(&mut changed, p) = r.clone();
            read += same::<T>(&js(&changed), &format!("{p:?} = {r}"));
            tried += 1;
        }
    }
    for top in [
        Value::Null,
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!([{}]),
    ] {
        read += same::<T>(&js(&top), &format!("{top}"));
        tried += 1;
    }
    (read, tried)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn event(kind: EventKind) -> RoomEvent {
    RoomEvent {
        room: "r@muc.example".into(),
        kind,
        stanza_id: s("sid"),
        origin_id: s("oid"),
        message_id: s("mid"),
        item_id: None,
        nick: s("nick"),
        real_jid: s("u@example"),
        timestamp: Timestamp(1_700_000_000_123),
        source: Source::Archive,
        occupant_id: s("occ"),
        reply_to: Some(ReplyTo {
            id: "sid-0".into(),
            to: s("r@muc.example/other"),
        }),
        edited: vec!["hello".into()],
        retracted: Some(Retraction {
            moderated: Some(Moderator {
                by: "r@muc.example/mod".into(),
                occupant_id: None,
            }),
            reason: s("spam"),
        }),
        reactions: [("👍".to_owned(), vec!["occ".to_owned()])].into(),
    }
}

#[wasm_bindgen_test]
fn stored_events_read_as_serde_wasm_bindgen_read_them() {
    let kinds = [
        EventKind::Message { body: "hi".into() },
        EventKind::Presence {
            available: true,
            role: s("moderator"),
            affiliation: None,
            codes: vec![110, 307],
        },
        EventKind::Change {
            target: "sid".into(),
            change: Change::React {
                emojis: vec!["a".into()],
            },
        },
        EventKind::Change {
            target: "sid".into(),
            change: Change::Retract(Retraction {
                moderated: None,
                reason: s("why"),
            }),
        },
    ];
    let (mut read, mut tried) = (0, 0);
    for k in kinds {
        let (r, t) = variations(&event(k));
        read += r;
        tried += t;
    }
    assert!(read > 100 && tried - read > 100, "{read} of {tried} read");
}

#[wasm_bindgen_test]
fn store_records_read_as_serde_wasm_bindgen_read_them() {
    variations(&Cursor {
        id: "a".into(),
        stamp: Timestamp(5),
    });
    variations(&Gap {
        after_id: s("a"),
        after_stamp: Some(Timestamp(1)),
        before_id: None,
        before_stamp: Some(Timestamp(9)),
    });
    variations(&SubscriptionRecord {
        room: "r@muc.example".into(),
        nick: s("n"),
        nodes: vec![Node::Messages, Node::Subject],
    });
    variations(&ReadMarker {
        key: "sid:s1".into(),
        stamp: Timestamp(10),
    });
    variations(&vec!["a".to_owned(), "b".to_owned()]);
}

/// Iterables where an object or an array is written: a `Map` of reactions, a `Set` of
/// emojis, strings where a list is expected.
#[wasm_bindgen_test]
fn iterables_read_as_serde_wasm_bindgen_read_them() {
    let ev = js(&serde_json::to_value(event(EventKind::Message { body: "b".into() })).unwrap());
    let map = js_sys::Map::new();
    map.set(&"👍".into(), &js(&json!(["o1", "o2"])));
    js_sys::Reflect::set(&ev, &"reactions".into(), &map).unwrap();
    assert_eq!(same::<RoomEvent>(&ev, "reactions as a Map"), 1);
    let set = js_sys::Set::new(&js(&json!(["a", "b"])));
    assert_eq!(same::<Vec<String>>(&set.into(), "a Set of strings"), 1);
    for v in [
        JsValue::from_str("ab"),
        JsValue::from(3),
        JsValue::NULL,
        JsValue::UNDEFINED,
    ] {
        assert_eq!(same::<Vec<String>>(&v, &format!("{v:?}")), 0);
    }
}

/// The error messages: serde's own words, as serde-wasm-bindgen's are, for a value of each
/// type where another is expected; a float is written by JavaScript, which gives Rust's
/// text for every number from 1e-6 up to 1e21 (src/wasm/js_de.rs, `Found`).
#[wasm_bindgen_test]
fn errors_read_as_serde_wasm_bindgen_words_them() {
    let message = |v: &JsValue| {
        let ours = js_de::from_value::<String>(v.clone())
            .unwrap_err()
            .to_string();
        // serde-wasm-bindgen's error is a JS `Error`, whose text starts with "Error: ".
        let theirs = serde_wasm_bindgen::from_value::<String>(v.clone())
            .unwrap_err()
            .to_string();
        assert_eq!(Some(ours.as_str()), theirs.strip_prefix("Error: "), "{v:?}");
        ours
    };
    for n in [
        1.5,
        -2.25,
        0.1,
        1e-6,
        123456.789,
        9007199254740992.0,
        1e20,
        1.5e20,
    ] {
        message(&JsValue::from_f64(n));
    }
    assert_eq!(
        message(&JsValue::from_f64(0.1)),
        "invalid type: floating point `0.1`, expected a string"
    );
    assert_eq!(
        message(&JsValue::from_f64(1e20)),
        "invalid type: floating point `100000000000000000000.0`, expected a string"
    );
    for v in [JsValue::TRUE, JsValue::NULL, JsValue::from(7)] {
        message(&v);
    }
    // A whole number is a float here too (both readers), with serde's `.0` added.
    assert_eq!(
        message(&JsValue::from(-7)),
        "invalid type: floating point `-7.0`, expected a string"
    );
    // Beyond that range JavaScript's text differs from Rust's (an error message only).
    let ours = |n: f64| {
        js_de::from_value::<String>(JsValue::from_f64(n))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        ours(1e21),
        "invalid type: floating point `1e+21`, expected a string"
    );
    assert_eq!(
        ours(f64::INFINITY),
        "invalid type: floating point `Infinity`, expected a string"
    );
    // A field of a stored record: the message names the value the same way.
    let bad = js(&json!({"key": 1.5, "stamp": 10}));
    let ours = js_de::from_value::<ReadMarker>(bad.clone())
        .unwrap_err()
        .to_string();
    let theirs = serde_wasm_bindgen::from_value::<ReadMarker>(bad)
        .unwrap_err()
        .to_string();
    assert_eq!(Some(ours.as_str()), theirs.strip_prefix("Error: "));
}
