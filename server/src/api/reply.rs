//! What the HTTP API answers, in the shapes of ejabberd's `mod_http_api` (23.01): a
//! command's result as bare JSON (`0` for a done command, a string, a list, an object), a
//! command's refusal as a bare JSON string with status 400 (or 404), and the API's own
//! errors (authentication, unknown command, some account errors) as
//! `{"status":"error","code":N,"message":"…"}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    /// 200 `0`: ejabberd's `rescode` for a command done.
    pub fn done() -> Reply {
        Reply::ok(json!(0))
    }

    /// `status` with a bare JSON string, as ejabberd answers a command's refusal.
    pub fn text(status: u16, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: Value::String(message.into()),
        }
    }

    /// 400 with a bare JSON string.
    pub fn bad(message: impl Into<String>) -> Reply {
        Reply::text(400, message)
    }

    /// ejabberd's error object.
    pub fn error(status: u16, code: u32, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: json!({"status": "error", "code": code, "message": message.into()}),
        }
    }

    /// 500 `"internal_error"`, as ejabberd answers a command that failed.
    pub fn internal() -> Reply {
        Reply::text(500, "internal_error")
    }

    /// No (usable) credentials.
    pub fn unauthorized() -> Reply {
        Reply::error(401, 10, "You are not authorized to call this command.")
    }

    /// A bearer token no one has.
    pub fn invalid_token() -> Reply {
        Reply::error(401, 10, "Oauth Token is invalid or expired.")
    }

    /// A token calling a command it is not given.
    pub fn forbidden() -> Reply {
        Reply::error(
            403,
            32,
            "AccessRules: Account does not have the right to perform the operation.",
        )
    }

    /// A command this server does not have.
    pub fn unknown_command() -> Reply {
        Reply::error(404, 40, "Endpoint not found.")
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body.to_string(),
        )
            .into_response()
    }
}
