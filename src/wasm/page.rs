//! Page lifecycle: a phone that puts the tab to sleep kills the WebSocket; when the page is
//! visible again (`visibilitychange`, `pageshow` from the back/forward cache, `resume` after
//! Chromium froze it) or the browser is back `online`, reconnect at once instead of waiting
//! out the backoff, or, when the socket still looks open, prove it alive (a ping; see
//! socket.rs). Visibility is also told to the server (XEP-0352 CSI): a live but hidden tab
//! is "inactive", so the server sends Web Push for it.
//!
//! Nothing needs saving on `pagehide` or `freeze`: every store write is one IndexedDB
//! transaction that commits whole or not at all, and a cursor only moves with the events it
//! covers, so a page frozen or discarded at any point leaves a store the next load resyncs
//! from. A page that is left (`pagehide`: unloaded, or frozen into the back/forward cache)
//! parks its database connection so that it blocks no other page (idb_conn.rs).
//! A page unloaded for good (`pagehide` not into the cache) also ends its XMPP stream
//! politely: a managed stream left waiting could never be resumed by it, and each reload
//! would leave one more counting against the account's sessions.

use std::rc::Rc;

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, EventTarget, VisibilityState, Window};

use super::idb_store::IdbStore;
use super::runtime::{Job, Shared};

/// Listeners on `document` and `window`; removed on drop.
pub struct PageWatch {
    targets: Vec<(EventTarget, &'static str)>,
    callback: Closure<dyn FnMut(web_sys::Event)>,
    window: EventTarget,
    on_cache: Closure<dyn FnMut(web_sys::Event)>,
}

impl PageWatch {
    /// Watch the page, when there is one (a worker has no `window`: nothing to watch).
    pub fn start(shared: Rc<Shared>, store: Rc<IdbStore>) -> Option<PageWatch> {
        let window: Window = js_sys::global().dyn_into().ok()?;
        let document: Option<Document> = window.document();
        let doc_for_cb = document.clone();
        let is_visible = |d: &Option<Document>| {
            d.as_ref()
                .map(|d| d.visibility_state() == VisibilityState::Visible)
                .unwrap_or(true)
        };
        if !is_visible(&document) {
            // Opened in a background tab: the first session says inactive right away.
            shared.queue.push(Job::Active(false));
        }
        let leaving = shared.clone();
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let visible = is_visible(&doc_for_cb);
            if e.type_() == "visibilitychange" {
                // Only a change is sent, and only once a session is up (the core keeps
                // the wish for the next one): no reconnect is started from here.
                shared.queue.push(Job::Active(visible));
            }
            if e.type_() == "online" || visible {
                shared.queue.push(Job::Wake);
            }
        });
        let window: EventTarget = window.into();
        let mut targets: Vec<(EventTarget, &'static str)> =
            vec![(window.clone(), "online"), (window, "pageshow")];
        if let Some(d) = document {
            let d: EventTarget = d.into();
            targets.push((d.clone(), "visibilitychange"));
            targets.push((d, "resume"));
        }
        for (t, name) in &targets {
            let _ = t.add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
        }
        // pagehide: the page is left (unloaded, or frozen into the back/forward cache);
        // pageshow with `persisted`: back from the cache.
        let on_cache = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let persisted = Reflect::get(&e, &"persisted".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            // Every pagehide, not only into the cache: an unloading page (a reload) may
            // still hold a transaction the next document of the site would wait behind.
            match e.type_().as_str() {
                "pagehide" => {
                    if !persisted {
                        // Gone for good: its stream ends with it (the queue runs in a
                        // microtask, before the document goes).
                        leaving.queue.push(Job::Leave);
                    }
                    store.park();
                }
                "pageshow" if persisted => store.unpark(),
                _ => {}
            }
        });
        let window = targets[0].0.clone();
        for name in ["pagehide", "pageshow"] {
            let _ =
                window.add_event_listener_with_callback(name, on_cache.as_ref().unchecked_ref());
        }
        Some(PageWatch {
            targets,
            callback,
            window,
            on_cache,
        })
    }
}

impl Drop for PageWatch {
    fn drop(&mut self) {
        for name in ["pagehide", "pageshow"] {
            let _ = self
                .window
                .remove_event_listener_with_callback(name, self.on_cache.as_ref().unchecked_ref());
        }
        for (t, name) in &self.targets {
            let _ =
                t.remove_event_listener_with_callback(name, self.callback.as_ref().unchecked_ref());
        }
    }
}
