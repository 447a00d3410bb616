//! The saved wake state ([`Wake`], `idb_wake.rs`) read back from the object `JSON.parse`
//! makes of its text, field by field, instead of through serde-wasm-bindgen and `Wake`'s
//! derived `Deserialize`: the derive's visitors for `Wake`, `FastToken`, `StreamState` and
//! `Sasl2Offer`, monomorphised for the browser's deserializer, made `load_wake` a 9.4 KB
//! function for one read per page load (issue 24, package size).
//!
//! The inputs accepted are exactly the derive's through serde-wasm-bindgen (browser test
//! `tests/wasm/wake.rs` compares both on every shape): a struct is any JS object (an array
//! too) whose known fields are read by name and the others ignored; a field that is absent
//! takes `Wake`'s and `Sasl2Offer`'s defaults (`#[serde(default)]`), is `None` when
//! optional, and makes the record unreadable otherwise; `null` is `None` for an optional
//! field and a type error for any other; strings must be strings, booleans booleans, lists
//! arrays of strings, counters safe integers in `u32`'s range; the stream's JID must pass
//! the same `FullJid::new` check. Any error makes the whole record unreadable (`None`),
//! which `load_wake` treats as no saved state.

use std::collections::VecDeque;

use jid::FullJid;
use js_sys::{Array, Number, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::session::{FastToken, Sasl2Offer, StreamState, Wake};

/// Unreadable: which field does not matter, the record is dropped as a whole.
type R<T> = Result<T, ()>;

/// The saved wake state in `value` (what `JSON.parse` returned), or `None` when the derive
/// would have refused it.
pub fn read(value: &JsValue) -> Option<Wake> {
    wake(value).ok()
}

fn wake(v: &JsValue) -> R<Wake> {
    let v = object(v)?;
    Ok(Wake {
        manage: bool_or_false(v, "manage")?,
        device_id: opt(v, "device_id", string)?,
        token: opt(v, "token", token)?,
        stream: opt(v, "stream", stream)?,
        sasl2: opt(v, "sasl2", sasl2)?,
        invalidate: bool_or_false(v, "invalidate")?,
        // `#[serde(skip)]`: never saved.
        tag: None,
    })
}

fn token(v: JsValue) -> R<FastToken> {
    let v = object(&v)?;
    Ok(FastToken {
        token: string(need(v, "token")?)?,
        expiry: string(need(v, "expiry")?)?,
        mechanism: string(need(v, "mechanism")?)?,
    })
}

fn stream(v: JsValue) -> R<StreamState> {
    let v = object(&v)?;
    Ok(StreamState {
        id: opt(v, "id", string)?,
        jid: FullJid::new(&string(need(v, "jid")?)?).map_err(|_| ())?,
        enabled: boolean(need(v, "enabled")?)?,
        inbound: counter(need(v, "inbound")?)?,
        sent: counter(need(v, "sent")?)?,
        unacked: VecDeque::from(strings(need(v, "unacked")?)?),
        ack_pending: boolean(need(v, "ack_pending")?)?,
    })
}

fn sasl2(v: JsValue) -> R<Sasl2Offer> {
    let v = object(&v)?;
    Ok(Sasl2Offer {
        inline_sm: bool_or_false(v, "inline_sm")?,
        bind: opt(v, "bind", strings)?,
        fast: match field(v, "fast") {
            Some(f) => strings(f)?,
            None => Vec::new(),
        },
    })
}

/// A struct's value: serde-wasm-bindgen's `deserialize_struct` takes any JS object.
fn object(v: &JsValue) -> R<&JsValue> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(())
    }
}

/// Field `name`, `None` when absent (`undefined`: serde-wasm-bindgen skips those).
fn field(v: &JsValue, name: &str) -> Option<JsValue> {
    let f = Reflect::get(v, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    (!f.is_undefined()).then_some(f)
}

/// A required field.
fn need(v: &JsValue, name: &str) -> R<JsValue> {
    field(v, name).ok_or(())
}

/// An optional field: absent or `null` is `None`.
fn opt<T>(v: &JsValue, name: &str, read: fn(JsValue) -> R<T>) -> R<Option<T>> {
    match field(v, name) {
        Some(f) if !f.is_null() => read(f).map(Some),
        _ => Ok(None),
    }
}

/// A `bool` with `#[serde(default)]`: absent is `false`, `null` is refused.
fn bool_or_false(v: &JsValue, name: &str) -> R<bool> {
    field(v, name).map_or(Ok(false), boolean)
}

fn boolean(v: JsValue) -> R<bool> {
    v.as_bool().ok_or(())
}

fn string(v: JsValue) -> R<String> {
    v.as_string().ok_or(())
}

/// A `u32`: serde-wasm-bindgen takes a safe integer ≥ 0 and serde refuses one above
/// `u32::MAX`.
fn counter(v: JsValue) -> R<u32> {
    if !Number::is_safe_integer(&v) {
        return Err(());
    }
    let n = v.as_f64().ok_or(())?;
    if (0.0..=u32::MAX as f64).contains(&n) {
        Ok(n as u32)
    } else {
        Err(())
    }
}

/// A list of strings: serde-wasm-bindgen's sequences are arrays here (`JSON.parse` makes no
/// other iterable).
fn strings(v: JsValue) -> R<Vec<String>> {
    let a = v.dyn_into::<Array>().map_err(|_| ())?;
    a.iter().map(string).collect()
}
