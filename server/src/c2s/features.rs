//! The stream features offered at each step of negotiation (RFC 6120 4.3.2), from what
//! the connection's security allows. No I/O.

use crate::auth;
use crate::ns;
use minidom::Element;
use mucsub_protocol::bind2::BindFeature;
use mucsub_protocol::fast::FastFeature;
use mucsub_protocol::sasl2::Authentication;

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

/// What the configuration offers besides SASL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer {
    /// XEP-0077 in-band registration.
    pub(crate) registration: bool,
    /// Stored passwords are accepted (`[auth] methods` has `password`): SCRAM is offered.
    pub(crate) scram: bool,
    /// XEP-0198 stream management.
    pub(crate) sm: bool,
    /// XEP-0484 token mechanisms (none: no FAST).
    pub(crate) fast: &'static [&'static str],
}

/// Before authentication: STARTTLS (required when SASL is not yet allowed), the SASL
/// mechanisms the connection may use (SCRAM only when stored passwords are accepted), SASL2
/// (XEP-0388) with what it can do inline where the connection is encrypted or on loopback,
/// and XEP-0077 registration when enabled.
pub(crate) fn pre_auth(sec: Security, offer: &Offer) -> Element {
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
        let mut names: Vec<&str> = if offer.scram {
            auth::SCRAM_MECHANISMS.to_vec()
        } else {
            Vec::new()
        };
        if sec.plain_allowed() {
            names.push("PLAIN");
        }
        for m in &names {
            mechs.append_child(Element::builder("mechanism", ns::SASL).append(*m).build());
        }
        f.append_child(mechs);
        if sec.plain_allowed() {
            f.append_child(sasl2(&names, offer));
        }
        if offer.registration && sec.plain_allowed() {
            f.append_child(Element::builder("register", ns::REGISTER_FEATURE).build());
        }
    }
    f
}

/// XEP-0388 `<authentication/>`: the password mechanisms, and inline XEP-0198 resumption,
/// XEP-0386 Bind 2 (with stream management and CSI) and XEP-0484 FAST. The token
/// mechanisms are listed only inside `<fast/>`: a client needs a token to use them.
fn sasl2(mechanisms: &[&str], offer: &Offer) -> Element {
    let mut bind_inline = Vec::new();
    if offer.sm {
        bind_inline.push(ns::SM.to_owned());
    }
    bind_inline.push(ns::CSI.to_owned());
    Element::from(Authentication {
        mechanisms: mechanisms.iter().map(|m| (*m).to_owned()).collect(),
        inline_sm: offer.sm,
        bind: Some(BindFeature {
            inline: bind_inline,
        }),
        fast: (!offer.fast.is_empty()).then(|| FastFeature {
            mechanisms: offer.fast.iter().map(|m| (*m).to_owned()).collect(),
            tls_0rtt: false,
        }),
    })
}

/// After authentication: resource binding, the (optional, RFC 6121 legacy) session,
/// Client State Indication, and XEP-0198 stream management when offered.
pub(crate) fn authenticated(sm: bool) -> Element {
    let mut f = Element::builder("features", ns::STREAM).build();
    f.append_child(Element::builder("bind", ns::BIND).build());
    f.append_child(
        Element::builder("session", ns::SESSION)
            .append(Element::builder("optional", ns::SESSION).build())
            .build(),
    );
    f.append_child(Element::builder("csi", ns::CSI).build());
    if sm {
        f.append_child(Element::builder("sm", ns::SM).build());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: Offer = Offer {
        registration: false,
        scram: true,
        sm: true,
        fast: &crate::fast::MECHANISMS,
    };

    /// `[auth] methods = ["jwt"]`: no stored passwords, so no SCRAM.
    const TOKENS_ONLY: Offer = Offer {
        scram: false,
        ..OFFER
    };

    fn with_registration() -> Offer {
        Offer {
            registration: true,
            ..OFFER
        }
    }

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
        let f = pre_auth(remote_plain, &with_registration());
        assert!(f
            .get_child("starttls", ns::TLS)
            .unwrap()
            .has_child("required", ns::TLS));
        assert!(
            mechs(&f).is_empty(),
            "no SASL before TLS from a remote peer"
        );
        assert!(!f.has_child("register", ns::REGISTER_FEATURE));
        assert!(!f.has_child("authentication", ns::SASL2));

        let relaxed = Security {
            tls_required: false,
            ..remote_plain
        };
        let f = pre_auth(relaxed, &OFFER);
        assert!(
            !f.has_child("authentication", ns::SASL2),
            "SASL2 only over TLS"
        );
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
        let f = pre_auth(remote_tls, &OFFER);
        assert!(!f.has_child("starttls", ns::TLS));
        assert_eq!(mechs(&f), vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);

        let loopback = Security {
            loopback: true,
            ..remote_plain
        };
        assert_eq!(mechs(&pre_auth(loopback, &OFFER)).len(), 3);
        assert!(
            pre_auth(loopback, &with_registration()).has_child("register", ns::REGISTER_FEATURE)
        );
    }

    #[test]
    fn tokens_only_offers_plain_alone_and_only_where_plain_is_allowed() {
        let loopback = Security {
            can_starttls: true,
            secure: false,
            loopback: true,
            tls_required: true,
        };
        let f = pre_auth(loopback, &TOKENS_ONLY);
        assert_eq!(mechs(&f), vec!["PLAIN"]);
        let a =
            Authentication::try_from(f.get_child("authentication", ns::SASL2).unwrap()).unwrap();
        assert_eq!(a.mechanisms, vec!["PLAIN"], "SASL2 offers what SASL offers");
        assert!(
            a.fast.is_some(),
            "a token from a JWT sign-in signs in later"
        );
        let remote_relaxed = Security {
            loopback: false,
            tls_required: false,
            ..loopback
        };
        let f = pre_auth(remote_relaxed, &TOKENS_ONLY);
        assert!(mechs(&f).is_empty(), "no token over plain TCP from afar");
    }

    #[test]
    fn sasl2_offers_its_inline_features() {
        let remote_tls = Security {
            can_starttls: false,
            secure: true,
            loopback: false,
            tls_required: true,
        };
        let f = pre_auth(remote_tls, &OFFER);
        let a =
            Authentication::try_from(f.get_child("authentication", ns::SASL2).unwrap()).unwrap();
        assert_eq!(a.mechanisms, vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
        assert!(a.inline_sm);
        assert_eq!(a.bind.unwrap().inline, vec![ns::SM, ns::CSI]);
        assert_eq!(a.fast.unwrap().mechanisms, vec!["HT-SHA-256-NONE"]);
        let bare = pre_auth(
            remote_tls,
            &Offer {
                registration: false,
                scram: true,
                sm: false,
                fast: &[],
            },
        );
        let a =
            Authentication::try_from(bare.get_child("authentication", ns::SASL2).unwrap()).unwrap();
        assert!(!a.inline_sm && a.fast.is_none());
        assert_eq!(a.bind.unwrap().inline, vec![ns::CSI]);
    }

    #[test]
    fn authenticated_features_offer_bind_session_csi_and_sm() {
        assert!(!authenticated(false).has_child("sm", ns::SM));
        let f = authenticated(true);
        assert!(f.has_child("sm", ns::SM));
        assert!(f.has_child("bind", ns::BIND));
        assert!(f
            .get_child("session", ns::SESSION)
            .unwrap()
            .has_child("optional", ns::SESSION));
        assert!(f.has_child("csi", ns::CSI));
        assert!(!f.has_child("mechanisms", ns::SASL));
    }
}
