//! The device's side of waking without a password (issue 26): what a page starts its
//! client with — the wake state saved in IndexedDB (idb_wake.rs), or a new device id — and
//! how the driver saves it as it changes (new token, stream enabled or resumed, page
//! hidden, close).

use std::rc::Rc;

use crate::session::Wake;

use super::idb_store::IdbStore;
use super::runtime::{random_id, Shared, WakeSaver};

/// What this device wakes with: the saved state, managed (SASL2, FAST, stream management
/// where offered), with a device id of its own from the first run on.
pub fn wake(saved: Option<Wake>, resource: Option<&str>) -> Wake {
    let mut wake = saved.unwrap_or_default();
    wake.manage = true;
    wake.invalidate = false;
    if wake.device_id.is_none() {
        wake.device_id = Some(format!("{}{}", random_id(), random_id()));
    }
    // Each page its own resource: another tab of this browser has the same device id.
    wake.tag = Some(format!(
        "{}-{}",
        resource.unwrap_or("web"),
        &random_id()[..8]
    ));
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
