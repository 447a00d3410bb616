//! The XEP-0388 steps of the negotiation: `<authenticate/>` with a password mechanism
//! (through the same verification as RFC 6120 SASL) or a FAST token (XEP-0484), then what
//! it carries inline, in this order — a FAST token to issue, an XEP-0198 resumption
//! (which, when it succeeds, ends the negotiation and makes the Bind 2 request moot), an
//! XEP-0386 Bind 2 request with stream management and CSI — and the `<success/>` that
//! reports them all. No stream restart follows a SASL2 success.

use super::{end, Action, Inline, Negotiation, Profile, Resumption, State, Via};
use crate::auth;
use crate::c2s::features;
use crate::fast::{Accepted, Attempt, Device, Issued};
use crate::stanza;
use minidom::Element;
use mucsub_protocol::bind2::Bound as BoundEl;
use mucsub_protocol::fast::{is_ht, split_initial_response, Token};
use mucsub_protocol::sasl2::{Authenticate, Success};
use mucsub_protocol::sm::{Enabled, Failed, Resume, Resumed};
use sha2::{Digest, Sha256};

impl Negotiation {
    /// `<authenticate xmlns='urn:xmpp:sasl:2'>`.
    pub(super) fn authenticate(&mut self, el: &Element) -> Vec<Action> {
        let request = match Authenticate::try_from(el) {
            Ok(r) => r,
            Err(e) => return self.sasl_failed(true, "malformed-request", Some(&e.to_string())),
        };
        // XEP-0388 §7: SASL2 only over TLS (loopback counts, as it does for PLAIN).
        if !self.security.plain_allowed() {
            return self.sasl_failed(true, "encryption-required", None);
        }
        let mechanism = request.mechanism.clone();
        let initial = request.initial_response.clone().unwrap_or_default();
        let inline = Box::new(Inline {
            request,
            success: Success::default(),
            rotate: false,
            previd: None,
            binding: None,
            full: None,
        });
        if is_ht(&mechanism) {
            return self.fast_auth(mechanism, &initial, inline);
        }
        self.password_auth(mechanism, initial, Profile::Sasl2(inline))
    }

    /// A FAST token authentication: `username NUL HMAC(token, "Initiator")`.
    fn fast_auth(&mut self, mechanism: String, initial: &[u8], inline: Box<Inline>) -> Vec<Action> {
        if !self.settings.fast.contains(&mechanism.as_str()) {
            return self.sasl_failed(true, "invalid-mechanism", None);
        }
        let Some(device) = device(&inline.request) else {
            let text = "a FAST token is bound to a device: send <user-agent id=…/>";
            return self.sasl_failed(true, "malformed-request", Some(text));
        };
        let Some((user, proof)) = split_initial_response(initial)
            .and_then(|(u, p)| Some((auth::normalize_user(u)?, p.to_vec())))
        else {
            return self.sasl_failed(true, "malformed-request", None);
        };
        let fast = inline.request.fast.unwrap_or_default();
        let attempt = Attempt {
            user: user.clone(),
            device: device.id,
            mechanism,
            proof,
            count: fast.count,
            invalidate: fast.invalidate,
        };
        self.state = State::CheckingToken { user, inline };
        vec![Action::CheckToken(attempt)]
    }

    /// What [`Action::CheckToken`] found: `Err` is the SASL failure condition.
    pub(crate) fn token_checked(&mut self, r: Result<Accepted, &'static str>) -> Vec<Action> {
        let State::CheckingToken { user, mut inline } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return end("internal-server-error", None);
        };
        match r {
            Ok(a) => {
                tracing::info!(user, "authenticated with a FAST token");
                inline.success.additional_data = Some(a.responder);
                inline.rotate = a.rotate;
                let mut out = vec![Action::Authenticated];
                out.extend(self.inline_next(user, inline));
                out
            }
            Err(cond) => {
                tracing::info!(user, cond, "FAST authentication refused");
                self.sasl_failed(true, cond, None)
            }
        }
    }

    /// The next inline step after authentication, in XEP order.
    pub(super) fn inline_next(&mut self, user: String, mut inline: Box<Inline>) -> Vec<Action> {
        // 1. A token: asked for, or a rotation of the one just used.
        let wanted = inline.request.request_token.take().map(|r| r.mechanism);
        let rotation = std::mem::take(&mut inline.rotate).then(|| inline.request.mechanism.clone());
        if let Some(mechanism) = wanted.or(rotation) {
            match device(&inline.request) {
                Some(device) if self.settings.fast.contains(&mechanism.as_str()) => {
                    self.state = State::Inline {
                        user: user.clone(),
                        inline,
                    };
                    return vec![Action::IssueToken {
                        user,
                        device,
                        mechanism,
                    }];
                }
                _ => tracing::debug!(
                    user,
                    mechanism,
                    "no token: no user-agent id, or not offered"
                ),
            }
        }
        // 2. A resumption: when it succeeds nothing else is done.
        if let Some(Resume { previd, h }) = inline.request.resume.take() {
            if self.settings.sm {
                inline.previd = Some(previd.clone());
                self.state = State::Inline {
                    user: user.clone(),
                    inline,
                };
                return vec![Action::Resume { user, previd, h }];
            }
            inline.success.failed = Some(Failed::new("feature-not-implemented"));
        }
        // 3. Bind 2.
        if let Some(bind) = inline.request.bind.take() {
            let ua = inline
                .request
                .user_agent
                .as_ref()
                .and_then(|u| u.id.as_deref());
            let resource = bind2_resource(&user, bind.tag.as_deref(), ua, self.random);
            inline.binding = Some(bind);
            return self.claim(user, resource, Via::Bind2(inline));
        }
        // Authenticated only: the features to bind with follow, without a restart.
        self.inline_unbound(user, inline)
    }

    /// What [`Action::IssueToken`] gave (`None`: it failed, and the success goes without).
    pub(crate) fn token_issued(&mut self, issued: Option<Issued>) -> Vec<Action> {
        let State::Inline { user, mut inline } = std::mem::replace(&mut self.state, State::Done)
        else {
            return end("internal-server-error", None);
        };
        if let Some(t) = issued {
            inline.success.token = Some(Token {
                token: t.token,
                expiry: crate::time::xep82(t.expires_ms),
            });
        }
        self.inline_next(user, inline)
    }

    /// A resumption inside SASL2: resumed, the `<success/>` carries `<resumed/>` and the
    /// stream continues; refused, it carries `<failed/>` and the Bind 2 request runs.
    pub(super) fn inline_resumed(
        &mut self,
        user: String,
        mut inline: Box<Inline>,
        r: Resumption,
    ) -> Vec<Action> {
        let previd = inline.previd.take().unwrap_or_default();
        match r {
            Resumption::Resumed { full, inbound } => {
                inline.success.authorization_identifier = full;
                inline.success.resumed = Some(Resumed { previd, h: inbound });
                let success = Element::from(std::mem::take(&mut inline.success));
                vec![Action::Send(stanza::to_xml(&success)), Action::Resumed]
            }
            Resumption::Unknown { h } => {
                inline.success.failed = Some(Failed {
                    h,
                    condition: Some("item-not-found".into()),
                });
                self.inline_next(user, inline)
            }
            Resumption::TooHigh(t) => vec![Action::End(super::End::TooHigh(t))],
        }
    }

    /// The Bind 2 resource is claimed: stream management next, if asked for.
    pub(super) fn bind2_claimed(
        &mut self,
        user: String,
        full: String,
        mut inline: Box<Inline>,
    ) -> Vec<Action> {
        inline.full = Some(full);
        let sm = inline.binding.as_ref().and_then(|b| b.sm);
        match sm {
            Some(e) if self.settings.sm => {
                self.state = State::Inline { user, inline };
                vec![Action::EnableSm {
                    resume: e.resume,
                    max: e.max,
                }]
            }
            Some(_) => {
                let failed = Failed::new("feature-not-implemented");
                self.bind2_done(user, inline, None, Some(failed))
            }
            None => self.bind2_done(user, inline, None, None),
        }
    }

    /// What [`Action::EnableSm`] granted.
    pub(crate) fn sm_enabled(&mut self, enabled: Enabled) -> Vec<Action> {
        let State::Inline { user, inline } = std::mem::replace(&mut self.state, State::Done) else {
            return end("internal-server-error", None);
        };
        self.bind2_done(user, inline, Some(enabled), None)
    }

    /// The new session is ready: the `<success/>` with `<bound/>` is its first element.
    fn bind2_done(
        &mut self,
        user: String,
        mut inline: Box<Inline>,
        enabled: Option<Enabled>,
        failed: Option<Failed>,
    ) -> Vec<Action> {
        let Some(full) = inline.full.take() else {
            return end("internal-server-error", None);
        };
        let inactive = inline
            .binding
            .as_ref()
            .and_then(|b| b.inactive)
            .unwrap_or(false);
        inline.success.authorization_identifier = full.clone();
        inline.success.bound = Some(BoundEl { enabled, failed });
        let result = Element::from(std::mem::take(&mut inline.success));
        let bare = format!("{user}@{}", self.settings.domain);
        vec![Action::Bound(Box::new(super::Bound {
            user,
            bare,
            full,
            result,
            inactive,
        }))]
    }

    /// Authenticated without a bound resource (none asked for, or refused): the
    /// `<success/>`, then the authenticated stream's features, on the same stream.
    pub(super) fn inline_unbound(&mut self, user: String, mut inline: Box<Inline>) -> Vec<Action> {
        inline.success.authorization_identifier = format!("{user}@{}", self.settings.domain);
        let success = Element::from(std::mem::take(&mut inline.success));
        let features = features::authenticated(self.settings.sm);
        self.state = State::Bind(user);
        vec![
            Action::Send(stanza::to_xml(&success)),
            Action::Send(stanza::to_xml(&features)),
        ]
    }
}

/// The device a token is bound to: `<user-agent id>` (required for FAST).
fn device(request: &Authenticate) -> Option<Device> {
    let ua = request.user_agent.as_ref()?;
    Some(Device {
        id: ua.id.clone()?,
        software: ua.software.clone(),
        name: ua.device.clone(),
    })
}

/// XEP-0386 §2.2: `TAG.SUFFIX`, the client's tag (letters, digits, `-`, `_`, at most 32)
/// then a suffix that is stable for one account, device and tag (so a reconnecting device
/// takes its former resource over) and does not reveal the device id; random without one.
pub(super) fn bind2_resource(
    user: &str,
    tag: Option<&str>,
    ua: Option<&str>,
    random: fn() -> u64,
) -> String {
    let tag: String = tag
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(32)
        .collect();
    let suffix = match ua {
        Some(id) => {
            let mut h = Sha256::new();
            for part in ["mucsub bind2", user, id, &tag] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            h.finalize()[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
        None => format!("{:016x}", random()),
    };
    if tag.is_empty() {
        suffix
    } else {
        format!("{tag}.{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::bind2_resource;

    fn random() -> u64 {
        0x1234_5678_9abc_def0
    }

    const UA: &str = "d4565fa7-4d72-4749-b3d3-740edbf87770";

    #[test]
    fn stable_per_account_device_and_tag_and_hiding_the_device() {
        let a = bind2_resource("alice", Some("web"), Some(UA), random);
        assert_eq!(a, bind2_resource("alice", Some("web"), Some(UA), random));
        assert_ne!(a, bind2_resource("bob", Some("web"), Some(UA), random));
        assert_ne!(a, bind2_resource("alice", Some("app"), Some(UA), random));
        assert!(a.starts_with("web.") && !a.contains("d4565fa7"), "{a}");
        assert_eq!(
            bind2_resource("alice", Some("we b/<x>"), None, random),
            "webx.123456789abcdef0"
        );
        assert_eq!(
            bind2_resource("alice", None, None, random),
            "123456789abcdef0"
        );
    }
}
