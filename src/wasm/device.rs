//! The device's side of waking without a password (issue 26): what a page starts its
//! client with — the wake state saved in IndexedDB (idb_wake.rs), or a new device id — and
//! how the driver saves it as it changes (new token, stream enabled or resumed, page
//! hidden, close).

use std::rc::Rc;

use crate::session::Wake;

use super::idb_store::IdbStore;
use super::runtime::{random_bytes, random_id, Shared, WakeSaver};

/// What this device wakes with: the saved state, managed (SASL2, FAST, stream management
/// where offered), with a device id of its own from the first run on.
pub fn wake(saved: Option<Wake>, resource: Option<&str>) -> Wake {
    let mut wake = saved.unwrap_or_default();
    wake.manage = true;
    wake.invalidate = false;
    // XEP-0388's `<user-agent id>` is a UUID (the server refuses anything else).
    if !wake.device_id.as_deref().is_some_and(is_uuid) {
        wake.device_id = Some(uuid_v4());
        // A token is bound to the id it was issued for.
        wake.token = None;
    }
    // Each page its own resource (another tab of this browser has the same device id),
    // unless the app asked for one: that one is bound as asked (RFC 6120 bind).
    wake.tag = match resource {
        Some(_) => None,
        None => Some(format!("web-{}", &random_id()[..8])),
    };
    wake
}

/// Saves each wake state the driver hands over, in order, reporting a failed write as an
/// `error` event (the next save may succeed; the state in memory is unaffected).
pub fn saver(store: Rc<IdbStore>, shared: Rc<Shared>) -> WakeSaver {
    Rc::new(move |w| {
        let (store, shared) = (store.clone(), shared.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = store.save_wake(&w).await {
                shared.emit_error(&e);
            }
        });
    })
}

/// A random (version 4) UUID, lower case.
fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// 8-4-4-4-12 hexadecimal digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}
