//! SASL with a password mechanism, for both profiles: RFC 6120's `<auth/>` (a stream
//! restart after `<success/>`) and XEP-0388's `<authenticate/>` (whose inline steps then
//! run in `sasl2.rs`). Both go through the same mechanism checks and the same
//! verification: SCRAM through the credential lookup and `crate::auth::Exchange`, PLAIN
//! through `crate::auth::plain::verify_plain` (the stored password, or an app's token when
//! `[auth] methods` allows it), so what signs in over one profile signs in over the other.
//! Failures are counted per connection.

use super::{end, Action, End, Lookup, Negotiation, Profile, State};
use crate::auth::plain::{PlainMessage, PlainSuccess};
use crate::auth::{self, Exchange, Failure, Prefetched, Step};
use crate::ns;
use crate::stanza;
use minidom::Element;

impl Negotiation {
    /// SASL `<auth/>`: checks the mechanism and the initial response, then asks for the
    /// PLAIN message to be checked, or for the credentials of the account SCRAM names.
    pub(super) fn auth(&mut self, el: &Element) -> Vec<Action> {
        let mechanism = el.attr("mechanism").unwrap_or("").to_owned();
        if !self.security.auth_allowed() {
            return self.sasl_failed(false, "encryption-required", None);
        }
        let initial = match auth::decode_payload(&el.text()) {
            Ok(p) => p,
            Err(f) if self.password_mechanism(&mechanism) => {
                return self.sasl_failed(false, f.condition(), None)
            }
            Err(_) => Vec::new(),
        };
        self.password_auth(mechanism, initial, Profile::Sasl1)
    }

    /// SCRAM everywhere authentication is allowed, when stored passwords are accepted;
    /// PLAIN only over TLS or on loopback.
    fn password_mechanism(&self, mechanism: &str) -> bool {
        (self.settings.scram && auth::SCRAM_MECHANISMS.contains(&mechanism))
            || (mechanism == "PLAIN" && self.security.plain_allowed())
    }

    /// A password mechanism (RFC 6120 SASL, or SASL2): the same checks and the same
    /// verification path for both profiles.
    pub(super) fn password_auth(
        &mut self,
        mechanism: String,
        initial: Vec<u8>,
        profile: Profile,
    ) -> Vec<Action> {
        if !self.password_mechanism(&mechanism) {
            return self.sasl_failed(
                profile.is_sasl2(),
                Failure::InvalidMechanism.condition(),
                None,
            );
        }
        if mechanism == "PLAIN" {
            if let Err(f) = PlainMessage::parse(&initial) {
                return self.sasl_failed(profile.is_sasl2(), f.condition(), None);
            }
            self.state = State::Plain { profile };
            return vec![Action::VerifyPlain(initial)];
        }
        let Some(user) = auth::initial_username(&mechanism, &initial) else {
            return self.sasl_failed(
                profile.is_sasl2(),
                Failure::MalformedRequest.condition(),
                None,
            );
        };
        self.state = State::Credentials {
            mechanism,
            initial,
            user: user.clone(),
            profile,
        };
        vec![Action::FetchCredentials(user)]
    }

    /// The outcome of [`Action::VerifyPlain`], in the profile the PLAIN message came in.
    pub(crate) fn plain_verified(&mut self, outcome: Result<PlainSuccess, Failure>) -> Vec<Action> {
        let State::Plain { profile } = std::mem::replace(&mut self.state, State::Done) else {
            return end("internal-server-error", None);
        };
        match outcome {
            Ok(ok) => {
                tracing::info!(user = ok.user, mechanism = "PLAIN", with = ?ok.with, sasl2 = profile.is_sasl2(), "authenticated");
                self.authenticated(ok.user, Vec::new(), profile)
            }
            Err(f) => {
                tracing::info!(
                    mechanism = "PLAIN",
                    condition = f.condition(),
                    "authentication failed"
                );
                self.sasl_failed(profile.is_sasl2(), f.condition(), None)
            }
        }
    }

    /// The credentials asked for by [`Action::FetchCredentials`] (SCRAM). An exchange for
    /// an account that does not exist runs on decoy credentials, so it fails only at the
    /// end, like a wrong password.
    pub(crate) fn credentials(&mut self, lookup: Lookup) -> Vec<Action> {
        let State::Credentials {
            mechanism,
            initial,
            user,
            profile,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return end("internal-server-error", None);
        };
        let creds = match lookup {
            Lookup::Found(c) => Some(c),
            Lookup::NoSuchAccount => auth::decoy_credentials(&user),
            Lookup::Failed => {
                return self.sasl_failed(profile.is_sasl2(), "temporary-auth-failure", None)
            }
        };
        match Exchange::start(&mechanism, &initial, Prefetched { user, creds }) {
            Ok((exchange, step)) => self.sasl_step(mechanism, exchange, step, profile),
            Err(f) => self.sasl_failed(profile.is_sasl2(), f.condition(), None),
        }
    }

    /// A `<response/>` (or `<abort/>`) to the challenge that went out.
    pub(super) fn response(
        &mut self,
        mechanism: String,
        mut exchange: Exchange,
        profile: Profile,
        el: &Element,
    ) -> Vec<Action> {
        let sasl_ns = match profile {
            Profile::Sasl1 => ns::SASL,
            Profile::Sasl2(_) => ns::SASL2,
        };
        if el.is("abort", sasl_ns) {
            return self.sasl_failed(profile.is_sasl2(), "aborted", None);
        }
        if !el.is("response", sasl_ns) {
            return end("not-authorized", None);
        }
        let data = match profile {
            Profile::Sasl1 => auth::decode_payload(&el.text()),
            Profile::Sasl2(_) => mucsub_protocol::sasl2::decode(&el.text(), "response")
                .map_err(|_| Failure::IncorrectEncoding),
        };
        let data = match data {
            Ok(d) => d,
            Err(f) => return self.sasl_failed(profile.is_sasl2(), f.condition(), None),
        };
        match exchange.step(&data) {
            Ok(step) => self.sasl_step(mechanism, exchange, step, profile),
            Err(f) => {
                tracing::info!(mechanism, "authentication failed");
                self.sasl_failed(profile.is_sasl2(), f.condition(), None)
            }
        }
    }

    fn sasl_step(
        &mut self,
        mechanism: String,
        exchange: Exchange,
        step: Step,
        profile: Profile,
    ) -> Vec<Action> {
        match (step, profile) {
            (Step::Success { user, data }, profile) => {
                tracing::info!(user, mechanism, sasl2 = profile.is_sasl2(), "authenticated");
                self.authenticated(user, data, profile)
            }
            (Step::Challenge(c), profile) => {
                let challenge = match &profile {
                    Profile::Sasl1 => format!(
                        "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>",
                        auth::encode_payload(&c)
                    ),
                    Profile::Sasl2(_) => stanza::to_xml(&Element::from(
                        mucsub_protocol::sasl2::SaslData::challenge(c),
                    )),
                };
                self.state = State::Challenge {
                    mechanism,
                    exchange,
                    profile,
                };
                vec![Action::Send(challenge)]
            }
        }
    }

    /// Authenticated as `user` (`data`: the mechanism's additional data): RFC 6120's
    /// `<success/>` and a stream restart, or SASL2's inline steps on the same stream.
    fn authenticated(&mut self, user: String, data: Vec<u8>, profile: Profile) -> Vec<Action> {
        match profile {
            Profile::Sasl1 => {
                let success = format!(
                    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</success>",
                    auth::encode_payload(&data)
                );
                self.state = State::Header(Some(user));
                vec![Action::Send(success), Action::Restart]
            }
            Profile::Sasl2(mut inline) => {
                inline.success.additional_data = (!data.is_empty()).then_some(data);
                let mut out = vec![Action::Authenticated];
                out.extend(self.inline_next(user, inline));
                out
            }
        }
    }

    /// A SASL `<failure/>` (in the profile's namespace); the client may try again, up to
    /// `max_auth_failures` times.
    pub(super) fn sasl_failed(
        &mut self,
        sasl2: bool,
        condition: &str,
        text: Option<&str>,
    ) -> Vec<Action> {
        let failure = if sasl2 {
            stanza::to_xml(&Element::from(mucsub_protocol::sasl2::Failure {
                condition: condition.to_owned(),
                text: text.map(str::to_owned),
            }))
        } else {
            format!("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/></failure>")
        };
        let mut out = vec![Action::Send(failure)];
        self.failures += 1;
        if self.failures >= self.settings.max_auth_failures {
            out.push(Action::End(End::Error(
                "policy-violation",
                Some("too many failed authentication attempts".into()),
            )));
        } else {
            self.state = State::Auth;
        }
        out
    }
}
