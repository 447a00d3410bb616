//! What JS callbacks and method calls share with the driver: its job queue, and the app's
//! listeners (`on`/`off`) the driver emits to.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsValue;

use super::Job;
use crate::keyed::Keyed;
use crate::wasm::error::SdkError;
use crate::wasm::js_types::to_js;
use crate::wasm::local::Queue;

/// The driver's queue and the app's listeners.
pub struct Shared {
    /// The driver's queue.
    pub queue: Queue<Job>,
    listeners: RefCell<Keyed<Vec<js_sys::Function>>>,
    /// Where every emitted callback also goes (src/wasm/tabs.rs: to the other tabs, when
    /// this one leads), and whether anybody listens there.
    relay: RefCell<Option<Relay>>,
    relaying: Cell<bool>,
}

/// A hook that sees every emitted callback.
pub type Relay = Box<dyn Fn(&str, &JsValue)>;

impl Shared {
    /// A fresh, listener-less hub.
    pub fn new() -> Rc<Shared> {
        Rc::new(Shared {
            queue: Queue::default(),
            listeners: RefCell::new(Keyed::new()),
            relay: RefCell::new(None),
            relaying: Cell::new(false),
        })
    }

    /// Register a callback for `name`.
    pub fn on(&self, name: &str, f: js_sys::Function) {
        self.listeners
            .borrow_mut()
            .get_or_insert_with(name, Vec::new)
            .push(f);
    }

    /// Remove a callback registered with [`Shared::on`].
    pub fn off(&self, name: &str, f: &js_sys::Function) {
        if let Some(v) = self.listeners.borrow_mut().get_mut(name) {
            v.retain(|g| g != f);
        }
    }

    /// Send every emitted callback to `relay` too.
    pub fn set_relay(&self, relay: Relay) {
        *self.relay.borrow_mut() = Some(relay);
    }

    /// Whether the relay wants values that no local callback listens for.
    pub fn set_relaying(&self, on: bool) {
        self.relaying.set(on);
    }

    /// Whether a callback is registered for `name` (here, or through the relay).
    pub fn listening(&self, name: &str) -> bool {
        self.relaying.get()
            || self
                .listeners
                .borrow()
                .get(name)
                .is_some_and(|v| !v.is_empty())
    }

    /// Call every callback of `name`. A throwing callback is logged and does not stop the
    /// others (nor the SDK).
    pub fn emit(&self, name: &str, value: &JsValue) {
        let fs: Vec<js_sys::Function> = self
            .listeners
            .borrow()
            .get(name)
            .cloned()
            .unwrap_or_default();
        for f in fs {
            if let Err(e) = f.call1(&JsValue::NULL, value) {
                web_sys::console::error_2(&format!("mucsub: a '{name}' callback threw").into(), &e);
            }
        }
        // The relay decides itself what it passes on (the connection state always).
        let relay = self.relay.borrow();
        if let Some(relay) = relay.as_ref() {
            relay(name, value);
        }
    }

    /// Build and emit the value only when a callback listens: converting it into a JS
    /// object is most of what an event costs on the JS side, and a resync has one per
    /// stored message, usually with no `event` listener at all.
    pub fn emit_value<T: serde::Serialize>(&self, name: &str, v: impl FnOnce() -> T) {
        if !self.listening(name) {
            return;
        }
        match to_js(&v()) {
            Ok(js) => self.emit(name, &js),
            Err(e) => self.emit_error(&e),
        }
    }

    /// Emit `prepared` (see `prepared.rs`) when a callback listens, else build the value
    /// as [`Shared::emit_value`] does.
    pub fn emit_prepared<T: serde::Serialize>(
        &self,
        name: &str,
        prepared: Option<JsValue>,
        v: impl FnOnce() -> T,
    ) {
        match prepared {
            Some(js) if self.listening(name) => self.emit(name, &js),
            _ => self.emit_value(name, v),
        }
    }

    /// Emit an `error` event.
    pub fn emit_error(&self, e: &SdkError) {
        self.emit("error", &e.to_js());
    }
}
