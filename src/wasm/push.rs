//! Push registration from the browser: `enablePush`, `disablePush` and `pushInfo` on
//! `MucSubClient` (docs/js-api.md).
//!
//! Each call runs on a short session of its own (connect, authenticate, bind, one IQ,
//! close) rather than on the client's live connection: registration is a property of the
//! account, so it works before `connect()` and while the live connection is reconnecting,
//! and it never waits behind a resync. That session binds without initial presence
//! ([`SessionConfig::initial_presence`]), so the server never counts it available and never
//! hands it the account's offline messages.
//!
//! The server's built-in app server (`push.<domain>`) wants the browser's
//! `PushSubscription` in the XEP-0357 publish-options (`endpoint`, `p256dh`, `auth`) and
//! `include-body`; the node names the device: base64url(SHA-256(endpoint)), so enabling the
//! same subscription again replaces its registration instead of adding one.

use std::cell::RefCell;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use js_sys::{Function, Promise, Reflect};
use minidom::Element;
use serde::Serialize;
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::protocol::ns;
use crate::protocol::push::{PushDisable, PushEnable, WebPushSubscription};
use crate::protocol::xml::ncname;
use crate::session::framing::Framing;
use crate::session::{Session, SessionConfig, SessionError, SessionOut, Wake};

use super::error::{Code, SdkError};
use super::js_args::{get_bool, get_string, js_or_undefined, promise};
use super::js_types::string_at;
use super::runtime::{random_id, Options};
use super::socket::Socket;
use super::MucSubClient;

#[wasm_bindgen(typescript_custom_section)]
const TS_PUSH: &'static str = r#"
/** A browser `PushSubscription`, or what its `toJSON()` gives. */
export type PushSubscriptionInput =
  | { endpoint: string; keys: { p256dh: string; auth: string } }
  | { toJSON(): unknown };

export interface EnablePushOptions {
  /** Let notifications carry the message text (default false: room and sender only). */
  includeBody?: boolean;
  /** The XEP-0357 app server (default "push.<domain>", the server's built-in one). */
  service?: string;
}

/** The device registration `enablePush` made. */
export interface PushRegistration {
  service: string;
  /** base64url(SHA-256(endpoint)): one node per browser subscription. */
  node: string;
}

/** The app server's disco#info: its JID and its VAPID public key (base64url), the
 *  `applicationServerKey` for `pushManager.subscribe`. */
export interface PushInfo {
  service: string;
  publicKey: string;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `EnablePushOptions`; a named type so the argument is optional in TS.
    #[wasm_bindgen(typescript_type = "EnablePushOptions")]
    pub type EnablePushOptionsArg;
    /// `PushSubscriptionInput`, optional for `disablePush`.
    #[wasm_bindgen(typescript_type = "PushSubscriptionInput")]
    pub type PushSubscriptionArg;
}

/// What push remembers per client: the node of the last `enablePush`, so `disablePush()`
/// without an argument turns off this device only.
#[derive(Default)]
pub struct PushState {
    node: RefCell<Option<(String, String)>>,
}

#[derive(Serialize)]
struct JsPushRegistration {
    service: String,
    node: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsPushInfo {
    service: String,
    public_key: String,
}

/// The node naming a browser subscription.
pub fn device_node(endpoint: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(endpoint.as_bytes()))
}

fn default_service(opts: &Options) -> String {
    format!("push.{}", opts.jid.domain())
}

/// Reads a `PushSubscription` (through its `toJSON()`) or a plain object of that shape.
fn parse_subscription(value: &JsValue) -> Result<WebPushSubscription, SdkError> {
    if !value.is_object() {
        return Err(SdkError::bad_request(
            "expected a PushSubscription or {endpoint, keys: {p256dh, auth}}",
        ));
    }
    let json = match Reflect::get(value, &"toJSON".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    {
        Some(f) => f
            .call0(value)
            .map_err(|_| SdkError::bad_request("PushSubscription.toJSON() threw"))?,
        None => value.clone(),
    };
    let field = |path: &[&str]| {
        string_at(&json, path).ok_or_else(|| {
            SdkError::bad_request(format!("the push subscription has no {}", path.join(".")))
        })
    };
    let endpoint = field(&["endpoint"])?;
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        return Err(SdkError::bad_request(format!(
            "the push subscription's endpoint is not an http(s) URL: {endpoint:?}"
        )));
    }
    Ok(WebPushSubscription {
        endpoint,
        p256dh: field(&["keys", "p256dh"])?,
        auth: field(&["keys", "auth"])?,
    })
}

fn options_service(opts: &Options, options: &JsValue) -> Result<String, SdkError> {
    let Some(s) = get_string(options, "service")? else {
        return Ok(default_service(opts));
    };
    jid::Jid::new(&s)
        .map(|j| j.to_string())
        .map_err(|_| SdkError::new(Code::JidMalformed, format!("not a JID: {s:?}")))
}

fn iq(type_: &str, to: Option<&str>, id: &str, payload: Element) -> Element {
    let mut b = Element::builder("iq", ns::JABBER_CLIENT)
        .attr(ncname("type"), type_.to_owned())
        .attr(ncname("id"), id.to_owned());
    if let Some(to) = to {
        b = b.attr(ncname("to"), to.to_owned());
    }
    b.append(payload).build()
}

/// The stanza error of an IQ reply, as an SDK error (the same mapping as command replies).
fn iq_error(reply: &Element) -> SdkError {
    super::runtime::command_error(&crate::client::stanza_error(reply))
}

/// Connects, authenticates, binds (no presence), sends `payload` in an IQ and returns the
/// reply's result; closes the stream either way.
async fn one_iq(
    opts: &Options,
    type_: &str,
    to: Option<&str>,
    payload: Element,
) -> Result<Element, SdkError> {
    // Asked before the socket opens: a short-lived token is fresh for this session.
    let secret = opts.auth.secret().await?;
    let wake = if secret.value.is_empty() {
        token_wake(opts).await?
    } else {
        Wake::default()
    };
    let session = Session::with_wake(
        SessionConfig {
            jid: opts.jid.clone(),
            password: secret.value,
            resource: Some(format!("push-{}", &random_id()[..8])),
            framing: Framing::WebSocket,
            secure: super::runtime::is_secure(&opts.url),
            // Never available: see the module comment.
            initial_presence: false,
            token: secret.token,
        },
        wake,
    );
    let id = format!("push-{}", random_id());
    let mut request = Some(iq(type_, to, &id, payload));
    let mut reply = None;
    super::one_shot::run(
        &opts.url,
        session,
        "push registration",
        &mut |socket, session, outs| {
            let got = handle_outs(socket, session, outs, &id, &mut request).transpose()?;
            Some(got.map(|e| reply = Some(e)))
        },
    )
    .await?;
    // `run` ends with `Ok` only when the step above kept the reply.
    reply.ok_or_else(|| SdkError::new(Code::Internal, "push registration: no reply"))
}

/// No password (a device that signed in before keeps only its FAST token, never the
/// password): sign this session in with the saved token, binding a resource of its own and
/// resuming nothing. Without a saved token the sign-in fails asking for credentials.
async fn token_wake(opts: &Options) -> Result<Wake, SdkError> {
    let saved = super::IdbStore::open(&opts.store)
        .await?
        .load_wake()
        .await?;
    Ok(match saved {
        Some(w) => Wake {
            manage: true,
            stream: None,
            invalidate: false,
            tag: Some(format!("push-{}", &random_id()[..8])),
            ..w
        },
        None => Wake::default(),
    })
}

/// Performs the session's outputs; `Some(reply)` once our IQ is answered with a result.
fn handle_outs(
    socket: &Socket,
    session: &mut Session,
    outs: Vec<SessionOut>,
    id: &str,
    request: &mut Option<Element>,
) -> Result<Option<Element>, SdkError> {
    for out in outs {
        match out {
            SessionOut::Write(w) => socket
                .send(&w)
                .map_err(|e| SdkError::new(Code::Network, e))?,
            SessionOut::ResetParser => {}
            SessionOut::Ready(_) => {
                if let Some(req) = request.take() {
                    for o in session.send(&req) {
                        if let SessionOut::Write(w) = o {
                            socket
                                .send(&w)
                                .map_err(|e| SdkError::new(Code::Network, e))?;
                        }
                    }
                }
            }
            // A push session resumes nothing; a token rotated on its sign-in is not kept
            // (the saved one stays valid until a newer one is used).
            SessionOut::Resumed(_) | SessionOut::Token(_) | SessionOut::TokenRejected(_) => {}
            SessionOut::Stanza(e) => {
                if e.name() == "iq" && e.attr("id") == Some(id) {
                    return match e.attr("type") {
                        Some("result") => Ok(Some(e)),
                        _ => Err(iq_error(&e)),
                    };
                }
            }
            SessionOut::Ended(err) => {
                return Err(match err {
                    Some(SessionError::AuthFailed(m)) => {
                        SdkError::new(Code::AuthFailed, format!("authentication failed: {m}"))
                    }
                    Some(e) => SdkError::new(Code::Network, e.to_string()),
                    None => SdkError::new(Code::Network, "the server closed the stream"),
                });
            }
        }
    }
    Ok(None)
}

async fn enable(
    opts: Options,
    state: Rc<PushState>,
    subscription: WebPushSubscription,
    service: String,
    include_body: bool,
) -> Result<JsPushRegistration, SdkError> {
    let node = device_node(&subscription.endpoint);
    let payload: Element = PushEnable {
        service: service.clone(),
        node: node.clone(),
        subscription,
        include_body,
    }
    .into();
    one_iq(&opts, "set", None, payload).await?;
    *state.node.borrow_mut() = Some((service.clone(), node.clone()));
    Ok(JsPushRegistration { service, node })
}

async fn disable(
    opts: Options,
    state: Rc<PushState>,
    target: Option<(String, String)>,
) -> Result<(), SdkError> {
    let (service, node) = match target.or_else(|| state.node.borrow().clone()) {
        Some(t) => t,
        None => {
            return Err(SdkError::bad_request(
                "push was not enabled by this client: pass the PushSubscription to disable",
            ))
        }
    };
    let payload: Element = PushDisable {
        service: service.clone(),
        node: Some(node.clone()),
    }
    .into();
    one_iq(&opts, "set", None, payload).await?;
    let mut remembered = state.node.borrow_mut();
    if remembered.as_ref() == Some(&(service, node)) {
        *remembered = None;
    }
    Ok(())
}

async fn info(opts: Options, service: String) -> Result<JsPushInfo, SdkError> {
    let query = Element::builder("query", ns::DISCO_INFO).build();
    let reply = one_iq(&opts, "get", Some(&service), query).await?;
    let key = reply
        .get_child("query", ns::DISCO_INFO)
        .into_iter()
        .flat_map(|q| q.children())
        .filter(|x| x.is("x", ns::DATA_FORMS))
        .find(|x| form_value(x, "FORM_TYPE").as_deref() == Some(ns::WEBPUSH_FORM))
        .and_then(|x| form_value(x, "vapid-public-key"))
        .ok_or_else(|| {
            SdkError::new(
                Code::ServiceUnavailable,
                format!("{service} publishes no VAPID key (not a Web Push app server)"),
            )
        })?;
    Ok(JsPushInfo {
        service,
        public_key: key,
    })
}

/// The first non-empty value of field `var` of a data form.
///
/// Read over minidom rather than with `xmpp_parsers::data_forms::DataForm`: its generated
/// parser (and that of `Field`, which carries most of it) adds about 25 KB gzipped to the
/// browser package (measured: 290,990 -> 316,460 bytes of wasm + JS, gzip -9), for two
/// values of one form. The same trade as the MAM query in `protocol/mam.rs`.
fn form_value(form: &Element, var: &str) -> Option<String> {
    form.children()
        .filter(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some(var))
        .flat_map(|f| f.children().filter(|v| v.is("value", ns::DATA_FORMS)))
        .map(|v| v.text().trim().to_owned())
        .find(|v| !v.is_empty())
}

#[wasm_bindgen]
impl MucSubClient {
    /// Register this browser's push subscription with the account (XEP-0357): while the
    /// account has no session, or only inactive ones, each new message of a subscribed
    /// room is sent to it as a Web Push. Resolves with the device registration.
    #[wasm_bindgen(js_name = enablePush, unchecked_return_type = "Promise<PushRegistration>")]
    pub fn enable_push(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PushSubscriptionInput")] subscription: JsValue,
        options: Option<EnablePushOptionsArg>,
    ) -> Promise {
        let ctx = self.push_context();
        let options = js_or_undefined(options);
        promise(async move {
            let (opts, state) = ctx?;
            let subscription = parse_subscription(&subscription)?;
            let include_body = get_bool(&options, "includeBody")?;
            let service = options_service(&opts, &options)?;
            enable(opts, state, subscription, service, include_body).await
        })
    }

    /// Remove a device registration: the given subscription's, or (no argument) the one
    /// the last `enablePush` of this client made.
    #[wasm_bindgen(js_name = disablePush, unchecked_return_type = "Promise<void>")]
    pub fn disable_push(
        &self,
        subscription: Option<PushSubscriptionArg>,
        options: Option<EnablePushOptionsArg>,
    ) -> Promise {
        let ctx = self.push_context();
        let subscription = js_or_undefined(subscription);
        let options = js_or_undefined(options);
        promise(async move {
            let (opts, state) = ctx?;
            let target = if subscription.is_undefined() || subscription.is_null() {
                None
            } else {
                let sub = parse_subscription(&subscription)?;
                let service = options_service(&opts, &options)?;
                Some((service, device_node(&sub.endpoint)))
            };
            disable(opts, state, target).await
        })
    }

    /// The push app server and its VAPID public key, from its disco#info.
    #[wasm_bindgen(js_name = pushInfo, unchecked_return_type = "Promise<PushInfo>")]
    pub fn push_info(&self, options: Option<EnablePushOptionsArg>) -> Promise {
        let ctx = self.push_context();
        let options = js_or_undefined(options);
        promise(async move {
            let (opts, _) = ctx?;
            let service = options_service(&opts, &options)?;
            info(opts, service).await
        })
    }
}
