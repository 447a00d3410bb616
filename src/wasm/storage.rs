//! Storage the browser may take back. Under storage pressure any browser may evict a site's
//! IndexedDB, and WebKit (Safari, and so every browser on an iPhone) deletes all of a site's
//! script-written storage after seven days of browser use without a visit, unless the site
//! is a home-screen web app or its storage is *persistent*. `navigator.storage.persist()`
//! asks for that; the SDK asks once per `open()`, in the background, where the browser grants
//! it without asking the person: WebKit and Chromium decide by themselves (engagement,
//! installed app, notifications), Firefox shows a permission prompt, which a library must not
//! raise on page load. So the request goes out when the Permissions API says
//! `persistent-storage` is already `granted`, or when the browser does not know that
//! permission name (WebKit: no prompt exists there). When the database is evicted anyway, the
//! next `open()` finds it empty and the resync rebuilds it from the server (docs/js-api.md,
//! "Storage eviction").

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What [`request_persistence`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// No `navigator.storage.persist` here (an insecure origin, or WebKitGTK without the
    /// Storage API).
    Unavailable,
    /// The storage was persistent already.
    AlreadyPersisted,
    /// Not asked: the browser would ask the person (the permission's state).
    NotAsked(String),
    /// Asked; the browser made it persistent.
    Granted,
    /// Asked; the browser said no.
    Refused,
    /// A call failed (its message).
    Failed(String),
}

/// Whether to call `persist()`: not when already persistent, and only when the
/// `persistent-storage` permission is `granted` or unknown to the browser (`None`).
pub fn should_request(persisted: bool, permission: Option<&str>) -> bool {
    !persisted && matches!(permission, None | Some("granted"))
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj.method(...args)` awaited, when `obj.method` is a function.
async fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Option<Result<JsValue, String>> {
    let f = get(obj, method).dyn_into::<Function>().ok()?;
    let array: js_sys::Array = args.iter().collect();
    let result = match f.apply(obj, &array) {
        Ok(v) => v,
        Err(e) => return Some(Err(super::error::describe_js(&e))),
    };
    let promise = match result.dyn_into::<Promise>() {
        Ok(p) => p,
        Err(v) => return Some(Ok(v)),
    };
    Some(
        JsFuture::from(promise)
            .await
            .map_err(|e| super::error::describe_js(&e)),
    )
}

/// The state of the `persistent-storage` permission, or `None` when the browser has no
/// Permissions API or does not know that name (it rejects the query).
async fn permission_state(navigator: &JsValue) -> Option<String> {
    let permissions = get(navigator, "permissions");
    if permissions.is_undefined() || permissions.is_null() {
        return None;
    }
    let query = Object::new();
    Reflect::set(&query, &"name".into(), &"persistent-storage".into()).ok()?;
    let status = call(&permissions, "query", &[query.into()]).await?.ok()?;
    get(&status, "state").as_string()
}

/// Ask for persistent storage where the browser grants it without a prompt. Never fails:
/// the outcome is only reported (and logged when the browser refused or a call failed).
pub async fn request_persistence() -> Persistence {
    let navigator = get(&js_sys::global(), "navigator");
    let storage = get(&navigator, "storage");
    if storage.is_undefined() || storage.is_null() || !get(&storage, "persist").is_function() {
        return Persistence::Unavailable;
    }
    let persisted = match call(&storage, "persisted", &[]).await {
        Some(Ok(v)) => v.as_bool().unwrap_or(false),
        Some(Err(e)) => return Persistence::Failed(e),
        None => false,
    };
    if persisted {
        return Persistence::AlreadyPersisted;
    }
    let permission = permission_state(&navigator).await;
    if !should_request(persisted, permission.as_deref()) {
        return Persistence::NotAsked(permission.unwrap_or_default());
    }
    let outcome = match call(&storage, "persist", &[]).await {
        Some(Ok(v)) if v.as_bool() == Some(true) => Persistence::Granted,
        Some(Ok(_)) => Persistence::Refused,
        Some(Err(e)) => Persistence::Failed(e),
        None => Persistence::Unavailable,
    };
    if let Persistence::Failed(e) = &outcome {
        web_sys::console::warn_1(
            &format!("mucsub: navigator.storage.persist() failed: {e}").into(),
        );
    }
    outcome
}
