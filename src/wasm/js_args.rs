//! Reading what JavaScript passes in (option objects, optional arguments) with errors that
//! name the bad option, and handing results back as Promises.

use std::future::Future;
use std::pin::Pin;

use js_sys::{Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;

use super::credentials::Auth;
use super::error::{Code, SdkError};
use super::js_types::to_js;
use super::runtime::Options;

/// A Promise of `fut`: its value as a JS value, or the `MucSubError`.
pub(crate) fn promise<F, T>(fut: F) -> Promise
where
    F: Future<Output = Result<T, SdkError>> + 'static,
    T: Serialize,
{
    js_promise(Box::pin(async move {
        match fut.await {
            Ok(v) => to_js(&v).map_err(JsValue::from),
            Err(e) => Err(e.to_js()),
        }
    }))
}

/// A Promise of `fut`. Every Promise the package makes goes through here with one future
/// type: `future_to_promise` is generic, and each instance was a copy of its resolve and
/// reject glue (issue 24, package size).
pub(crate) fn js_promise(fut: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>) -> Promise {
    future_to_promise(fut)
}

/// An optional argument as a `JsValue` (`undefined` when absent).
pub(crate) fn js_or_undefined<T: Into<JsValue>>(v: Option<T>) -> JsValue {
    v.map(Into::into).unwrap_or(JsValue::UNDEFINED)
}

/// The value of `obj[key]`; `None` when absent (`undefined` or `null`).
fn option(obj: &JsValue, key: &str) -> Result<Option<JsValue>, SdkError> {
    if !obj.is_object() {
        return Ok(None);
    }
    let v = Reflect::get(obj, &key.into())
        .map_err(|_| SdkError::bad_request(format!("cannot read option '{key}'")))?;
    Ok(Some(v).filter(|v| !v.is_undefined() && !v.is_null()))
}

/// Option `key` as a string, when given.
pub(crate) fn get_string(obj: &JsValue, key: &str) -> Result<Option<String>, SdkError> {
    option(obj, key)?
        .map(|v| {
            v.as_string()
                .ok_or_else(|| SdkError::bad_request(format!("option '{key}' must be a string")))
        })
        .transpose()
}

/// Option `key` as a non-empty string.
pub(crate) fn required(obj: &JsValue, key: &str) -> Result<String, SdkError> {
    get_string(obj, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SdkError::bad_request(format!("option '{key}' is required")))
}

/// Option `key` as a non-negative number, when given.
pub(crate) fn get_number(obj: &JsValue, key: &str) -> Result<Option<f64>, SdkError> {
    option(obj, key)?
        .map(|v| {
            v.as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| {
                    SdkError::bad_request(format!("option '{key}' must be a non-negative number"))
                })
        })
        .transpose()
}

/// Option `key` as a boolean (`false` when not given).
pub(crate) fn get_bool(obj: &JsValue, key: &str) -> Result<bool, SdkError> {
    option(obj, key)?.map_or(Ok(false), |v| {
        v.as_bool()
            .ok_or_else(|| SdkError::bad_request(format!("option '{key}' must be a boolean")))
    })
}

/// `password` or `credentials` (a function), at most one; neither when the device signed
/// in before and kept its FAST token (the password is never stored).
fn auth(options: &JsValue) -> Result<Auth, SdkError> {
    let callback = option(options, "credentials")?;
    let password = get_string(options, "password")?.filter(|p| !p.is_empty());
    match (callback, password) {
        (Some(f), None) => f
            .dyn_into::<js_sys::Function>()
            .map(Auth::Callback)
            .map_err(|_| {
                SdkError::bad_request(
                    "option 'credentials' must be a function returning {token} or {password}",
                )
            }),
        (None, Some(p)) => Ok(Auth::Password(p)),
        (Some(_), Some(_)) => Err(SdkError::bad_request(
            "give either 'password' or 'credentials', not both",
        )),
        (None, None) => Ok(Auth::Saved),
    }
}

/// `new MucSubClient(options)`: the options checked.
pub(crate) fn parse_options(options: &JsValue) -> Result<Options, SdkError> {
    if !options.is_object() {
        return Err(SdkError::bad_request(
            "new MucSubClient({url, jid, password | credentials, store}) needs an options object",
        ));
    }
    let url = required(options, "url")?;
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(SdkError::bad_request(format!(
            "url must be a ws:// or wss:// URL, got {url:?}"
        )));
    }
    let jid_text = super::user_jid::user_jid(required(options, "jid")?);
    let jid = jid::BareJid::new(&jid_text)
        .ok()
        .filter(|j| j.node().is_some())
        .ok_or_else(|| {
            SdkError::new(
                Code::JidMalformed,
                format!("not an account JID: {jid_text:?}"),
            )
        })?;
    let page_size = get_number(options, "pageSize")?.map(|n| (n as usize).clamp(1, 500));
    Ok(Options {
        url,
        jid,
        auth: auth(options)?,
        store: required(options, "store")?,
        resource: get_string(options, "resource")?.filter(|r| !r.is_empty()),
        page_size,
    })
}
