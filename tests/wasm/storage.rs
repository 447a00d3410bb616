//! Persistent storage (src/wasm/storage.rs): the SDK asks `navigator.storage.persist()` only
//! where the browser decides without asking the person. The browser's answer and its
//! permission prompt are beyond a test's reach, so `navigator.storage` and
//! `navigator.permissions` are replaced by recorders for each case (and removed after it);
//! the last test shows `MucSubClient.open()` makes the request.

use mucsub::wasm::socket::sleep;
use mucsub::wasm::storage::{request_persistence, should_request, Persistence};
use mucsub::wasm::MucSubClient;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = r#"
export function install_fake(persisted, permission, grant) {
  const calls = [];
  const storage = {
    persisted: async () => { calls.push('persisted'); return persisted; },
    persist: async () => { calls.push('persist'); return grant; },
  };
  const permissions = {
    query: async (d) => {
      calls.push('query:' + d.name);
      if (permission === null) throw new TypeError('unknown permission name');
      return { state: permission };
    },
  };
  Object.defineProperty(navigator, 'storage', { value: storage, configurable: true });
  Object.defineProperty(navigator, 'permissions', { value: permissions, configurable: true });
  return calls;
}
export function install_none() {
  Object.defineProperty(navigator, 'storage', { value: undefined, configurable: true });
}
export function remove_fake() {
  delete navigator.storage;
  delete navigator.permissions;
}
"#)]
extern "C" {
    fn install_fake(persisted: bool, permission: Option<String>, grant: bool) -> js_sys::Array;
    fn install_none();
    fn remove_fake();
}

fn calls(a: &js_sys::Array) -> Vec<String> {
    a.iter().filter_map(|v| v.as_string()).collect()
}

#[wasm_bindgen_test]
fn asks_only_where_no_prompt_is_shown() {
    assert!(should_request(false, Some("granted")));
    assert!(
        should_request(false, None),
        "WebKit: no such permission, no prompt"
    );
    assert!(
        !should_request(false, Some("prompt")),
        "Firefox would ask the person"
    );
    assert!(!should_request(false, Some("denied")));
    assert!(!should_request(true, Some("granted")), "already persistent");
    assert!(!should_request(true, None));
}

#[wasm_bindgen_test]
async fn granted_permission_makes_the_request() {
    let log = install_fake(false, Some("granted".into()), true);
    let outcome = request_persistence().await;
    remove_fake();
    assert_eq!(outcome, Persistence::Granted);
    assert_eq!(
        calls(&log),
        ["persisted", "query:persistent-storage", "persist"]
    );
}

#[wasm_bindgen_test]
async fn unknown_permission_name_still_asks_and_reports_a_refusal() {
    let log = install_fake(false, None, false);
    let outcome = request_persistence().await;
    remove_fake();
    assert_eq!(outcome, Persistence::Refused);
    assert_eq!(
        calls(&log),
        ["persisted", "query:persistent-storage", "persist"]
    );
}

#[wasm_bindgen_test]
async fn a_prompt_is_never_raised() {
    let log = install_fake(false, Some("prompt".into()), true);
    let outcome = request_persistence().await;
    remove_fake();
    assert_eq!(outcome, Persistence::NotAsked("prompt".into()));
    assert_eq!(calls(&log), ["persisted", "query:persistent-storage"]);
}

#[wasm_bindgen_test]
async fn persistent_storage_is_not_asked_again() {
    let log = install_fake(true, Some("granted".into()), true);
    let outcome = request_persistence().await;
    remove_fake();
    assert_eq!(outcome, Persistence::AlreadyPersisted);
    assert_eq!(calls(&log), ["persisted"]);
}

#[wasm_bindgen_test]
async fn no_storage_manager_is_no_error() {
    install_none();
    let outcome = request_persistence().await;
    remove_fake();
    assert_eq!(outcome, Persistence::Unavailable);
}

#[wasm_bindgen_test]
async fn opening_a_client_asks_for_persistence() {
    let log = install_fake(false, None, true);
    let opts = js_sys::Object::new();
    for (k, v) in [
        ("url", "ws://127.0.0.1:9/ws"),
        ("jid", "persist@localhost"),
        ("password", "pw"),
        ("store", &format!("persist-{}", js_sys::Math::random())),
    ] {
        js_sys::Reflect::set(&opts, &k.into(), &v.into()).unwrap();
    }
    let client = MucSubClient::new(opts.into()).unwrap();
    JsFuture::from(client.open()).await.unwrap();
    for _ in 0..100 {
        if calls(&log).contains(&"persist".to_string()) {
            break;
        }
        sleep(10.0).await;
    }
    remove_fake();
    JsFuture::from(client.close()).await.unwrap();
    assert_eq!(
        calls(&log),
        ["persisted", "query:persistent-storage", "persist"]
    );
}
