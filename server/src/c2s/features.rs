//! The stream features offered at each step of negotiation (RFC 6120 4.3.2), from what
//! the connection's security allows. No I/O.

use crate::auth;
use crate::ns;
use minidom::Element;

/// What a connection's security allows before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Security {
    pub(crate) can_starttls: bool,
    pub(crate) secure: bool,
    pub(crate) loopback: bool,
    pub(crate) tls_required: bool,
}

impl Security {
    /// PLAIN sends the password itself: only over TLS or on loopback.
    pub(crate) fn plain_allowed(self) -> bool {
        self.secure || self.loopback
    }

    /// With `tls.required`, remote peers must STARTTLS before any SASL.
    pub(crate) fn auth_allowed(self) -> bool {
        self.plain_allowed() || !self.tls_required
    }
}

/// Before authentication: STARTTLS (required when SASL is not yet allowed), the SASL
/// mechanisms the connection may use (SCRAM only when stored passwords are accepted:
/// `scram`), and XEP-0077 registration when enabled.
pub(crate) fn pre_auth(sec: Security, registration: bool, scram: bool) -> Element {
    let mut f = Element::builder("features", ns::STREAM).build();
    if sec.can_starttls {
        let mut st = Element::builder("starttls", ns::TLS).build();
        if !sec.auth_allowed() {
            st.append_child(Element::builder("required", ns::TLS).build());
        }
        f.append_child(st);
    }
    if sec.auth_allowed() {
        let mut mechs = Element::builder("mechanisms", ns::SASL).build();
        let mut names: Vec<&str> = if scram {
            auth::SCRAM_MECHANISMS.to_vec()
        } else {
            Vec::new()
        };
        if sec.plain_allowed() {
            names.push("PLAIN");
        }
        for m in names {
            mechs.append_child(Element::builder("mechanism", ns::SASL).append(m).build());
        }
        f.append_child(mechs);
        if registration && sec.plain_allowed() {
            f.append_child(Element::builder("register", ns::REGISTER_FEATURE).build());
        }
    }
    f
}

/// After authentication: resource binding, the (optional, RFC 6121 legacy) session, and
/// Client State Indication.
pub(crate) fn authenticated() -> Element {
    let mut f = Element::builder("features", ns::STREAM).build();
    f.append_child(Element::builder("bind", ns::BIND).build());
    f.append_child(
        Element::builder("session", ns::SESSION)
            .append(Element::builder("optional", ns::SESSION).build())
            .build(),
    );
    f.append_child(Element::builder("csi", ns::CSI).build());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mechs(f: &Element) -> Vec<String> {
        f.get_child("mechanisms", ns::SASL)
            .map(|m| m.children().map(|c| c.text()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn plain_only_over_tls_or_loopback() {
        let remote_plain = Security {
            can_starttls: true,
            secure: false,
            loopback: false,
            tls_required: true,
        };
        let f = pre_auth(remote_plain, true, true);
        assert!(f
            .get_child("starttls", ns::TLS)
            .unwrap()
            .has_child("required", ns::TLS));
        assert!(
            mechs(&f).is_empty(),
            "no SASL before TLS from a remote peer"
        );
        assert!(!f.has_child("register", ns::REGISTER_FEATURE));

        let relaxed = Security {
            tls_required: false,
            ..remote_plain
        };
        let f = pre_auth(relaxed, false, true);
        assert!(!f
            .get_child("starttls", ns::TLS)
            .unwrap()
            .has_child("required", ns::TLS));
        assert_eq!(mechs(&f), vec!["SCRAM-SHA-256", "SCRAM-SHA-1"]);

        let remote_tls = Security {
            can_starttls: false,
            secure: true,
            ..remote_plain
        };
        let f = pre_auth(remote_tls, false, true);
        assert!(!f.has_child("starttls", ns::TLS));
        assert_eq!(mechs(&f), vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);

        let loopback = Security {
            loopback: true,
            ..remote_plain
        };
        assert_eq!(mechs(&pre_auth(loopback, false, true)).len(), 3);
        assert!(pre_auth(loopback, true, true).has_child("register", ns::REGISTER_FEATURE));
    }

    #[test]
    fn tokens_only_offers_plain_alone_and_only_where_plain_is_allowed() {
        let loopback = Security {
            can_starttls: true,
            secure: false,
            loopback: true,
            tls_required: true,
        };
        assert_eq!(mechs(&pre_auth(loopback, false, false)), vec!["PLAIN"]);
        let remote_relaxed = Security {
            loopback: false,
            tls_required: false,
            ..loopback
        };
        let f = pre_auth(remote_relaxed, false, false);
        assert!(mechs(&f).is_empty(), "no token over plain TCP from afar");
    }

    #[test]
    fn authenticated_features_offer_bind_session_and_csi() {
        let f = authenticated();
        assert!(f.has_child("bind", ns::BIND));
        assert!(f
            .get_child("session", ns::SESSION)
            .unwrap()
            .has_child("optional", ns::SESSION));
        assert!(f.has_child("csi", ns::CSI));
        assert!(!f.has_child("mechanisms", ns::SASL));
    }
}
