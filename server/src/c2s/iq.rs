//! IQs the server answers itself: to the domain, to the user's own bare JID, or with no
//! `to` (RFC 6120 10.3). The core answers ping, session, roster and disco (with the
//! features and items modules registered); a payload a module registered goes to that
//! module ([`crate::extensions`]); anything else gets `service-unavailable`.

use super::negotiate::Bound;
use crate::extensions::{Caller, IqType};
use crate::ns;
use crate::stanza::{self, ErrorType};
use crate::storage::Credentials;
use crate::ServerContext;
use minidom::Element;

fn attr(name: &'static str) -> rxml::NcName {
    rxml::NcName::try_from(name).expect("static attribute name")
}

fn feature(var: &str) -> Element {
    Element::builder("feature", ns::DISCO_INFO)
        .attr(attr("var"), var)
        .build()
}

/// The reply to an IQ from the bound session `me`, if one is due.
pub(crate) async fn handle(ctx: &ServerContext, me: &Bound, el: &Element) -> Option<Element> {
    let itype = el.attr("type").unwrap_or("");
    if el.attr("id").is_none() || !matches!(itype, "get" | "set" | "result" | "error") {
        return Some(reply_err(el, ErrorType::Modify, "bad-request"));
    }
    if matches!(itype, "result" | "error") {
        return None;
    }
    let to_domain = el.attr("to").is_none_or(|t| t == ctx.config.domain);
    let payload = el.children().next();
    let Some(p) = payload else {
        return Some(reply_err(el, ErrorType::Modify, "bad-request"));
    };
    let ok = |payload: Option<Element>| Some(reply_ok(el, payload));
    match (itype, p.name(), p.ns().as_str()) {
        ("get", "ping", ns::PING) => ok(None),
        ("set", "session", ns::SESSION) => ok(None),
        ("get", "query", ns::ROSTER) => ok(Some(Element::builder("query", ns::ROSTER).build())),
        ("get", "query", ns::DISCO_INFO) if p.attr("node").is_none() => {
            let mut q = Element::builder("query", ns::DISCO_INFO).build();
            if to_domain {
                q.append_child(
                    Element::builder("identity", ns::DISCO_INFO)
                        .attr(attr("category"), "server")
                        .attr(attr("type"), "im")
                        .attr(attr("name"), "mucsub-server")
                        .build(),
                );
                for f in [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::PING, ns::OFFLINE] {
                    q.append_child(feature(f));
                }
                for f in ctx.extensions().server_features() {
                    q.append_child(feature(f));
                }
                if ctx.config.registration {
                    q.append_child(feature(ns::REGISTER));
                }
            } else {
                q.append_child(
                    Element::builder("identity", ns::DISCO_INFO)
                        .attr(attr("category"), "account")
                        .attr(attr("type"), "registered")
                        .build(),
                );
                for (category, kind) in ctx.extensions().account_identities() {
                    q.append_child(
                        Element::builder("identity", ns::DISCO_INFO)
                            .attr(attr("category"), category.as_str())
                            .attr(attr("type"), kind.as_str())
                            .build(),
                    );
                }
                q.append_child(feature(ns::DISCO_INFO));
                for f in ctx.extensions().account_features() {
                    q.append_child(feature(f));
                }
            }
            ok(Some(q))
        }
        ("get", "query", ns::DISCO_ITEMS) if p.attr("node").is_none() => {
            let mut q = Element::builder("query", ns::DISCO_ITEMS).build();
            if to_domain {
                for item in ctx.extensions().disco_items() {
                    q.append_child(
                        Element::builder("item", ns::DISCO_ITEMS)
                            .attr(attr("jid"), item.jid.as_str())
                            .attr(attr("name"), item.name.as_str())
                            .build(),
                    );
                }
            }
            ok(Some(q))
        }
        ("set", "bind", ns::BIND) => Some(reply_err(el, ErrorType::Cancel, "not-allowed")),
        _ => {
            let module = IqType::parse(itype)
                .and_then(|ty| ctx.extensions().iq_handler(ty, p.name(), &p.ns()));
            if let Some(module) = module {
                let from = Caller {
                    user: &me.user,
                    jid: &me.full,
                };
                return Some(module.handle(from, el).await);
            }
            tracing::debug!(
                user = me.user,
                name = p.name(),
                ns = p.ns(),
                "unsupported IQ"
            );
            Some(reply_err(el, ErrorType::Cancel, "service-unavailable"))
        }
    }
}

fn reply_ok(el: &Element, payload: Option<Element>) -> Element {
    let mut r = stanza::iq_result(el, payload);
    // Answers come from whoever was asked: the domain, the account, or (no `to`) the
    // account on the user's behalf, which RFC 6120 lets us leave implicit.
    stanza::remove_attr(&mut r, "from");
    if let Some(to) = el.attr("to") {
        stanza::set_attr(&mut r, "from", to);
    }
    r
}

fn reply_err(el: &Element, etype: ErrorType, cond: &str) -> Element {
    let mut r = stanza::error_reply(el, etype, cond, None);
    stanza::remove_attr(&mut r, "from");
    if let Some(to) = el.attr("to") {
        stanza::set_attr(&mut r, "from", to);
    }
    r
}

/// XEP-0077 in-band registration before authentication (when enabled in the config).
pub(crate) async fn register(ctx: &ServerContext, el: &Element) -> Element {
    let q = el.get_child("query", ns::REGISTER);
    match (el.attr("type"), q) {
        (Some("get"), Some(_)) => {
            let q = Element::builder("query", ns::REGISTER)
                .append(
                    Element::builder("instructions", ns::REGISTER)
                        .append("Choose a username and password.")
                        .build(),
                )
                .append(Element::builder("username", ns::REGISTER).build())
                .append(Element::builder("password", ns::REGISTER).build())
                .build();
            stanza::iq_result(el, Some(q))
        }
        (Some("set"), Some(q)) => {
            let user = q
                .get_child("username", ns::REGISTER)
                .and_then(|u| crate::auth::normalize_user(&u.text()));
            let pw = q.get_child("password", ns::REGISTER).map(|p| p.text());
            let (Some(user), Some(pw)) = (user, pw.filter(|p| !p.is_empty())) else {
                return stanza::error_reply(el, ErrorType::Modify, "not-acceptable", None);
            };
            let creds = match Credentials::derive(&pw) {
                Ok(c) => c,
                Err(_) => {
                    return stanza::error_reply(el, ErrorType::Wait, "internal-server-error", None)
                }
            };
            match ctx.accounts.create(&user, creds).await {
                Ok(true) => {
                    tracing::info!(user, "account registered in-band");
                    stanza::iq_result(el, None)
                }
                Ok(false) => stanza::error_reply(el, ErrorType::Cancel, "conflict", None),
                Err(e) => {
                    tracing::error!(error = %e, "registration failed");
                    stanza::error_reply(el, ErrorType::Wait, "internal-server-error", None)
                }
            }
        }
        _ => stanza::error_reply(el, ErrorType::Cancel, "service-unavailable", None),
    }
}
