//! Where the secret of each connection comes from: the `password` option, or the app's
//! `credentials` callback, called again before every connection (the first, each reconnect,
//! each push registration session) so the app's backend can hand out short-lived tokens.
//! The callback returns (or resolves to) `{ token }` — a JWT the server checks as ejabberd's
//! `auth_method: jwt` does, sent with SASL PLAIN only — or `{ password }`.

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::error::{Code, SdkError};
use super::js_types::string_at;

/// How the client signs in (`ClientOptions.password` / `ClientOptions.credentials`).
#[derive(Debug, Clone)]
pub enum Auth {
    /// A fixed password.
    Password(String),
    /// `credentials()`, asked before every connection.
    Callback(Function),
    /// Neither: the device's saved FAST token is the only way in (a reload after the
    /// first sign-in; the password was never stored).
    Saved,
}

/// The secret of one connection.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The password or the token.
    pub value: String,
    /// `value` is a token: PLAIN only (`SessionConfig::token`).
    pub token: bool,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The secret for the next connection: the password, or what the callback gives.
    /// A callback that throws, rejects or returns neither `{token}` nor `{password}` fails
    /// with `auth-failed` (its message says why).
    pub async fn secret(&self) -> Result<Secret, SdkError> {
        let f = match self {
            Auth::Password(p) => {
                return Ok(Secret {
                    value: p.clone(),
                    token: false,
                })
            }
            Auth::Callback(f) => f,
            Auth::Saved => {
                return Ok(Secret {
                    value: String::new(),
                    token: false,
                })
            }
        };
        let failed = |why: String| SdkError::new(Code::AuthFailed, why);
        let returned = f
            .call0(&JsValue::UNDEFINED)
            .map_err(|e| failed(format!("the credentials callback threw: {}", describe(&e))))?;
        // A value, a Promise or any thenable alike.
        let value = JsFuture::from(Promise::resolve(&returned))
            .await
            .map_err(|e| {
                failed(format!(
                    "the credentials callback's promise was rejected: {}",
                    describe(&e)
                ))
            })?;
        if let Some(token) = string_at(&value, &["token"]) {
            return Ok(Secret {
                value: token,
                token: true,
            });
        }
        if let Some(password) = string_at(&value, &["password"]) {
            return Ok(Secret {
                value: password,
                token: false,
            });
        }
        Err(failed(
            "the credentials callback must return {token} or {password} (a non-empty string)"
                .into(),
        ))
    }
}

/// A thrown JS value as text (an `Error`'s message, or the value itself).
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
