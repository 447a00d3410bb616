//! Errors as JavaScript sees them: a plain `Error` with a stable `code` string, so apps can
//! branch on `e.code` without parsing messages (docs/js-api.md, `MucSubError`).

use std::fmt;

use wasm_bindgen::{JsCast, JsValue};

/// Every code an SDK error can carry. The XMPP stanza error conditions keep their RFC 6120
/// names so an app sees the same word the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// SASL failed: wrong JID or password.
    AuthFailed,
    /// A command that needs the connection was called while offline.
    NotConnected,
    /// No answer in time.
    Timeout,
    /// The WebSocket failed or closed.
    Network,
    /// IndexedDB refused or failed.
    Store,
    /// The arguments are unusable (bad JID, bad options) or the server said `bad-request`.
    BadRequest,
    /// `forbidden`.
    Forbidden,
    /// `not-allowed`.
    NotAllowed,
    /// `not-authorized` (for example a wrong room password).
    NotAuthorized,
    /// `conflict` (nick taken).
    Conflict,
    /// `item-not-found`.
    ItemNotFound,
    /// `registration-required` (members-only room).
    RegistrationRequired,
    /// `jid-malformed`.
    JidMalformed,
    /// `not-acceptable`.
    NotAcceptable,
    /// `service-unavailable`.
    ServiceUnavailable,
    /// Anything else: a bug or a condition the SDK does not expect.
    Internal,
}

impl Code {
    /// The string JavaScript sees in `error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::AuthFailed => "auth-failed",
            Code::NotConnected => "not-connected",
            Code::Timeout => "timeout",
            Code::Network => "network",
            Code::Store => "store",
            Code::BadRequest => "bad-request",
            Code::Forbidden => "forbidden",
            Code::NotAllowed => "not-allowed",
            Code::NotAuthorized => "not-authorized",
            Code::Conflict => "conflict",
            Code::ItemNotFound => "item-not-found",
            Code::RegistrationRequired => "registration-required",
            Code::JidMalformed => "jid-malformed",
            Code::NotAcceptable => "not-acceptable",
            Code::ServiceUnavailable => "service-unavailable",
            Code::Internal => "internal",
        }
    }

    /// The code whose [`as_str`](Code::as_str) is `s` (`Internal` for an unknown one): an
    /// error's code as another tab sent it.
    pub fn parse(s: &str) -> Code {
        const ALL: [Code; 16] = [
            Code::AuthFailed,
            Code::NotConnected,
            Code::Timeout,
            Code::Network,
            Code::Store,
            Code::BadRequest,
            Code::Forbidden,
            Code::NotAllowed,
            Code::NotAuthorized,
            Code::Conflict,
            Code::ItemNotFound,
            Code::RegistrationRequired,
            Code::JidMalformed,
            Code::NotAcceptable,
            Code::ServiceUnavailable,
            Code::Internal,
        ];
        ALL.into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(Code::Internal)
    }

    /// The code for an XMPP stanza error condition (`<conflict/>` → `Conflict`); conditions
    /// the API does not name separately become `Internal` with the condition in the message.
    pub fn from_condition(condition: &str) -> Code {
        match condition {
            "bad-request" => Code::BadRequest,
            "forbidden" => Code::Forbidden,
            "not-allowed" => Code::NotAllowed,
            "not-authorized" => Code::NotAuthorized,
            "conflict" => Code::Conflict,
            "item-not-found" => Code::ItemNotFound,
            "registration-required" => Code::RegistrationRequired,
            "jid-malformed" => Code::JidMalformed,
            "not-acceptable" => Code::NotAcceptable,
            "service-unavailable" | "feature-not-implemented" => Code::ServiceUnavailable,
            "remote-server-timeout" => Code::Timeout,
            "remote-server-not-found" => Code::ItemNotFound,
            _ => Code::Internal,
        }
    }
}

/// An SDK error on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkError {
    /// The stable code.
    pub code: Code,
    /// A human-readable message.
    pub message: String,
}

impl SdkError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        SdkError {
            code,
            message: message.into(),
        }
    }

    /// An IndexedDB failure.
    pub fn store(message: impl fmt::Display) -> Self {
        SdkError::new(Code::Store, format!("IndexedDB: {message}"))
    }

    /// Bad arguments from the app.
    pub fn bad_request(message: impl Into<String>) -> Self {
        SdkError::new(Code::BadRequest, message)
    }

    /// The JavaScript `Error` with `code` set (and `name` = `MucSubError` for stack traces).
    pub fn to_js(&self) -> JsValue {
        let err = js_sys::Error::new(&self.message);
        err.set_name("MucSubError");
        // Reflect::set on a fresh Error object cannot fail (it is extensible and not frozen).
        let _ = js_sys::Reflect::set(&err, &"code".into(), &self.code.as_str().into());
        err.into()
    }
}

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for SdkError {}

impl From<SdkError> for JsValue {
    fn from(e: SdkError) -> JsValue {
        e.to_js()
    }
}

impl From<idb::Error> for SdkError {
    fn from(e: idb::Error) -> Self {
        SdkError::store(e)
    }
}

/// Render an arbitrary thrown JavaScript value for a message.
pub fn describe_js(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
