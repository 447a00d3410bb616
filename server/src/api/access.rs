//! Who may call the HTTP API: the `[api]` table and the check of each request.
//!
//! ```toml
//! [api]
//! tokens = ["a long random secret"]      # may call every command
//! open_on_loopback = false               # ejabberd's reference setup: no token from 127.0.0.0/8, ::1
//!
//! [[api.token]]                          # a token limited to some commands
//! secret = "another long random secret"
//! commands = ["send_message", "subscribe_room"]
//! ```
//!
//! A request carries `Authorization: Bearer <secret>`. Without it: 401, unless
//! `open_on_loopback` is set and the peer is a loopback address not relaying for someone
//! else (no `Forwarded` / `X-Forwarded-For`, as `/metrics` decides); with a secret no
//! token has: 401; a token calling a command it is not given: 403. Secrets are kept only
//! as SHA-256 digests and compared in constant time, so neither their content nor their
//! length leaks through timing; the config shows them as `***` and no secret is ever
//! logged.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::reply::Reply;
use crate::auth::settings::Secret;

/// `[api]` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Secrets that may call every command.
    pub tokens: Vec<Secret>,
    /// Secrets limited to some commands (`[[api.token]]`).
    pub token: Vec<TokenSettings>,
    /// Calls from loopback addresses need no token (ejabberd's `api_permissions` for
    /// `127.0.0.0/8` in its reference configuration).
    pub open_on_loopback: bool,
}

/// One `[[api.token]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub secret: Secret,
    /// The commands it may call; every command when absent.
    #[serde(default)]
    pub commands: Option<Vec<String>>,
}

/// Secrets shorter than this are accepted with a warning at startup.
const SHORT_SECRET: usize = 16;

struct Token {
    digest: [u8; 32],
    /// `None`: every command.
    commands: Option<Vec<String>>,
}

/// The configured tokens, ready to check requests against.
pub struct Access {
    tokens: Vec<Token>,
    open_on_loopback: bool,
}

/// Who a request came from, for the log (never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The n-th configured token (from 1: `tokens` first, then `[[api.token]]`).
    Token(usize),
    /// No token, from a loopback address with `open_on_loopback`.
    Loopback,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Token(n) => write!(f, "token #{n}"),
            Caller::Loopback => f.write_str("loopback"),
        }
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Access {
    /// Checks `settings`: no empty secret, only known commands (`known`).
    pub fn new(settings: &Settings, known: impl Fn(&str) -> bool) -> anyhow::Result<Access> {
        let all = settings.tokens.iter().map(|s| (s.expose(), None));
        let limited = settings
            .token
            .iter()
            .map(|t| (t.secret.expose(), t.commands.as_ref()));
        let mut tokens = Vec::new();
        for (n, (secret, commands)) in all.chain(limited).enumerate() {
            if secret.is_empty() {
                anyhow::bail!("[api] token #{} is empty", n + 1);
            }
            if secret.len() < SHORT_SECRET {
                tracing::warn!(
                    token = n + 1,
                    "[api] token #{} is shorter than {SHORT_SECRET} characters: easy to guess",
                    n + 1
                );
            }
            if let Some(unknown) = commands.into_iter().flatten().find(|c| !known(c)) {
                anyhow::bail!(
                    "[api] token #{} names an unknown command '{unknown}'",
                    n + 1
                );
            }
            tokens.push(Token {
                digest: digest(secret),
                commands: commands.cloned(),
            });
        }
        Ok(Access {
            tokens,
            open_on_loopback: settings.open_on_loopback,
        })
    }

    /// Whether the API can be called at all (a token, or loopback access).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || self.open_on_loopback
    }

    /// Who is calling, from the request's headers and the peer address; the 401 answer
    /// otherwise.
    pub fn authenticate(&self, headers: &HeaderMap, peer: IpAddr) -> Result<Caller, Reply> {
        let Some(value) = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) else {
            let proxied =
                headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
            return if self.open_on_loopback && is_loopback(peer) && !proxied {
                Ok(Caller::Loopback)
            } else {
                Err(Reply::unauthorized())
            };
        };
        let Some(secret) = value.strip_prefix(b"Bearer ") else {
            return Err(Reply::unauthorized());
        };
        let presented: [u8; 32] = Sha256::digest(secret).into();
        // Every token is compared, so the time taken does not tell which one matched.
        let mut found = None;
        for (n, t) in self.tokens.iter().enumerate() {
            if bool::from(t.digest.ct_eq(&presented)) {
                found = Some(n);
            }
        }
        match found {
            Some(n) => Ok(Caller::Token(n + 1)),
            None => Err(Reply::invalid_token()),
        }
    }

    /// Whether `caller` may call `command`; the 403 answer otherwise.
    pub fn permit(&self, caller: Caller, command: &str) -> Result<(), Reply> {
        let allowed = match caller {
            Caller::Loopback => true,
            Caller::Token(n) => self.tokens.get(n - 1).is_some_and(|t| {
                t.commands
                    .as_ref()
                    .is_none_or(|cs| cs.iter().any(|c| c == command))
            }),
        };
        if allowed {
            Ok(())
        } else {
            Err(Reply::forbidden())
        }
    }
}

/// 127.0.0.0/8, ::1, and IPv4-mapped loopback.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(open: bool) -> Access {
        let settings = Settings {
            tokens: vec![Secret::new("full-access-secret-1")],
            token: vec![TokenSettings {
                secret: Secret::new("only-sends-messages"),
                commands: Some(vec!["send_message".into()]),
            }],
            open_on_loopback: open,
        };
        Access::new(&settings, |c| c == "send_message" || c == "register").unwrap()
    }

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, (*v).try_into().unwrap());
        }
        h
    }

    fn bearer(v: &[u8]) -> HeaderMap {
        headers(&[("authorization", v)])
    }

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const REMOTE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn bearer_tokens_are_found_and_limited_to_their_commands() {
        let a = access(false);
        let full = a
            .authenticate(&bearer(b"Bearer full-access-secret-1"), REMOTE)
            .unwrap();
        assert_eq!(full, Caller::Token(1));
        assert!(a.permit(full, "register").is_ok());
        let limited = a
            .authenticate(&bearer(b"Bearer only-sends-messages"), REMOTE)
            .unwrap();
        assert_eq!(limited, Caller::Token(2));
        assert!(a.permit(limited, "send_message").is_ok());
        assert_eq!(a.permit(limited, "register").unwrap_err().status, 403);
        for bad in [
            &b"Bearer full-access-secret-"[..],
            b"Bearer full-access-secret-12",
            b"bearer full-access-secret-1",
            b"Basic YWxpY2U6cHc=",
            b"Bearer ",
        ] {
            let e = a.authenticate(&bearer(bad), REMOTE).unwrap_err();
            assert_eq!(e.status, 401);
        }
    }

    #[test]
    fn no_token_is_refused_unless_loopback_is_open() {
        let none = HeaderMap::new();
        let closed = access(false).authenticate(&none, LOOPBACK);
        assert_eq!(closed.unwrap_err().status, 401);
        let open = access(true);
        assert_eq!(
            open.authenticate(&none, LOOPBACK).unwrap(),
            Caller::Loopback
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(open.authenticate(&none, mapped).unwrap(), Caller::Loopback);
        assert_eq!(open.authenticate(&none, REMOTE).unwrap_err().status, 401);
        // A local reverse proxy does not make a remote caller local.
        let proxied = headers(&[("x-forwarded-for", b"192.0.2.7")]);
        assert_eq!(
            open.authenticate(&proxied, LOOPBACK).unwrap_err().status,
            401
        );
        // A wrong token is wrong from loopback too.
        let wrong = open.authenticate(&bearer(b"Bearer nope"), LOOPBACK);
        assert_eq!(wrong.unwrap_err().status, 401);
    }

    #[test]
    fn empty_secrets_and_unknown_commands_stop_the_server() {
        let empty = Settings {
            tokens: vec![Secret::new("")],
            ..Settings::default()
        };
        assert!(Access::new(&empty, |_| true).is_err());
        let typo = Settings {
            token: vec![TokenSettings {
                secret: Secret::new("a-secret-long-enough"),
                commands: Some(vec!["send_mesage".into()]),
            }],
            ..Settings::default()
        };
        let e = Access::new(&typo, |c| c == "send_message").err().unwrap();
        assert!(e.to_string().contains("send_mesage"), "{e}");
        assert!(!Access::new(&Settings::default(), |_| true)
            .unwrap()
            .enabled());
    }

    #[test]
    fn secrets_never_show_in_the_settings() {
        let s: Settings = toml::from_str(
            "tokens = ['full-access-secret-1']\n\
             [[token]]\nsecret = 'only-sends-messages'\ncommands = ['send_message']\n",
        )
        .unwrap();
        let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
        assert!(
            !shown.contains("secret-1") && !shown.contains("only-sends"),
            "{shown}"
        );
        assert!(toml::from_str::<Settings>("[[token]]\ncommands = []\n").is_err());
    }
}
