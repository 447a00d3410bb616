//! The browser WebSocket transport (RFC 7395): subprotocol `xmpp`, one XML element per
//! text frame. It only turns socket callbacks into [`SocketEvent`]s tagged with the
//! connection generation, so the driver can ignore a socket it already gave up on.
//!
//! It also proves a socket alive when the page wakes up ([`Socket::await_answer`]): a phone
//! that slept may have lost the connection without the browser noticing (the radio was off
//! when the server or a NAT gave up on it, so no FIN ever arrived), and such a socket stays
//! `OPEN` for minutes while nothing comes through. The driver writes a ping; when its answer
//! does not come back in time the socket is reported closed, and the driver reconnects and
//! resyncs as after any loss. Only the answer counts, not any frame: what the server sent
//! before the connection died (the browser delivers it on waking, behind the ping) proves
//! nothing, and taking it for an answer left a dead socket "online" for good.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use super::error::{describe_js, Code, SdkError};
use crate::session::framing::Frame;

/// What a socket reports.
#[derive(Debug)]
pub enum SocketEvent {
    /// The handshake finished.
    Open,
    /// One text frame.
    Text(String),
    /// Closed (or failed to open), with the close code and reason.
    Closed(String),
}

type Handler<E> = Closure<dyn FnMut(E)>;

/// A wake-up ping waiting for its answer: the ping's id, and the timer that reports the
/// socket dead.
type PendingProbe = Option<(String, Timer)>;

/// One open (or opening) WebSocket and its callbacks.
pub struct Socket {
    ws: WebSocket,
    probe: PendingProbe,
    dead: Rc<dyn Fn(String)>,
    _on_open: Handler<Event>,
    _on_message: Handler<MessageEvent>,
    _on_close: Handler<CloseEvent>,
}

impl Socket {
    /// Start connecting to `url`; every event goes to `sink`. A `dyn` sink: one set of
    /// callback closures for every caller instead of a set per sink type (issue 24,
    /// package size).
    pub fn open(url: &str, sink: Rc<dyn Fn(SocketEvent)>) -> Result<Socket, SdkError> {
        let ws = WebSocket::new_with_str(url, "xmpp").map_err(|e| {
            SdkError::new(
                Code::BadRequest,
                format!("WebSocket {url}: {}", describe_js(&e)),
            )
        })?;
        let s = sink.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| s(SocketEvent::Open));
        let s = sink.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // RFC 7395 frames are text; a binary frame is a protocol error the session
            // reports when it cannot parse what it gets.
            let text = e.data().as_string().unwrap_or_default();
            s(SocketEvent::Text(text));
        });
        let s = sink.clone();
        let dead: Rc<dyn Fn(String)> = Rc::new(move |why| s(SocketEvent::Closed(why)));
        let s = sink;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            let reason = e.reason();
            let why = if reason.is_empty() {
                format!("WebSocket closed (code {})", e.code())
            } else {
                format!("WebSocket closed (code {}): {reason}", e.code())
            };
            s(SocketEvent::Closed(why));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            probe: None,
            dead,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Send one frame.
    pub fn send(&self, text: &str) -> Result<(), String> {
        self.ws.send_with_str(text).map_err(|e| describe_js(&e))
    }

    /// Whether the socket is open.
    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    /// Whether a wake-up ping is waiting for its answer.
    pub fn probing(&self) -> bool {
        self.probe.is_some()
    }

    /// The ping with this `id` was just written (by the core, so that a managed stream
    /// counts it, XEP-0198): report the socket closed unless its answer arrives within
    /// `timeout_ms` ([`Socket::answered`]). One probe at a time; a socket that is not open
    /// is left to its own close event.
    pub fn await_answer(&mut self, id: String, timeout_ms: f64) {
        if !self.is_open() || self.probe.is_some() {
            return;
        }
        // Firing means no answer came. The timer stays stored until the answer or the
        // socket's end: a timer must not free itself while its callback runs.
        let dead = self.dead.clone();
        let timer = Timer::after(timeout_ms, move || {
            // Whole seconds as an integer (the probe's timeout is 8 s), not `{:.0}` of
            // an `f64`: Rust's float printing is not in the package.
            dead(format!(
                "no answer from the server {} s after the page woke up",
                (timeout_ms / 1000.0).round() as u64
            ))
        });
        self.probe = Some((id, timer));
    }

    /// A frame arrived: when it is the answer to the waiting ping (its result, or an error:
    /// a server without XEP-0199 still answered), the connection is alive. Anything else
    /// may have been sent before the connection died.
    pub fn answered(&mut self, frame: &Frame) {
        let Some((id, _)) = &self.probe else {
            return;
        };
        if let Frame::Element(e) = frame {
            if e.name() == "iq"
                && e.attr("id") == Some(id.as_str())
                && matches!(e.attr("type"), Some("result" | "error"))
            {
                self.probe = None;
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.probe = None;
        // Detach first: the closures are freed with this struct and must never be called
        // afterwards.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// A one-shot timer (window or worker: it uses the global `setTimeout`). Dropping it
/// cancels it.
pub struct Timer {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Call `f` after `ms` milliseconds.
    pub fn after(ms: f64, f: impl FnOnce() + 'static) -> Timer {
        Timer::boxed(ms, Box::new(f))
    }

    /// [`Timer::after`] with the callback boxed: one closure type for every timer, where
    /// each callback type was its own set of closure glue (issue 24, package size).
    fn boxed(ms: f64, f: Box<dyn FnOnce()>) -> Timer {
        let mut f = Some(f);
        let callback = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = f.take() {
                f();
            }
        });
        let id = set_timeout(callback.as_ref().unchecked_ref(), ms.max(0.0));
        Timer {
            id,
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// Resolve after `ms` milliseconds (tests and the runtime's polling of page state).
pub async fn sleep(ms: f64) {
    let (tx, rx) = super::local::oneshot::<()>();
    let _timer = Timer::after(ms, move || tx.send(()));
    rx.await;
}
