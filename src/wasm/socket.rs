//! The browser WebSocket transport (RFC 7395): subprotocol `xmpp`, one XML element per
//! text frame. It only turns socket callbacks into [`SocketEvent`]s tagged with the
//! connection generation, so the driver can ignore a socket it already gave up on.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use super::error::{describe_js, Code, SdkError};

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

/// One open (or opening) WebSocket and its callbacks.
pub struct Socket {
    ws: WebSocket,
    _on_open: Handler<Event>,
    _on_message: Handler<MessageEvent>,
    _on_close: Handler<CloseEvent>,
}

impl Socket {
    /// Start connecting to `url`; every event goes to `sink`.
    pub fn open(
        url: &str,
        sink: impl Fn(SocketEvent) + Clone + 'static,
    ) -> Result<Socket, SdkError> {
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
}

impl Drop for Socket {
    fn drop(&mut self) {
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
