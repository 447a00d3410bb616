//! XEP-0357 push: the account's `<enable/>` and `<disable/>` (this module) and the
//! notification the XMPP server publishes to the app server ([`publish`]).
//!
//! The bundled server's Web Push app server wants the browser's `PushSubscription` in the
//! publish-options form of `<enable/>` (fields `endpoint`, `p256dh`, `auth`), plus
//! `include-body`, by which the account allows message bodies in notifications:
//! [`PushEnable`] is that view of [`Enable`]. The IQ is a `set` addressed to the
//! account's own bare JID (or with no `to`).
//!
//! Parsing reads the form with `xmpp_parsers::data_forms`; building is written over
//! minidom because the browser sends it (xmpp-parsers' form serialiser would weigh on the
//! browser package for one small form).

pub mod publish;

use minidom::Element;

use crate::forms;
use crate::ns;
use crate::xml::{builder, expect, text_element, with_attr};
use crate::ParseError;

/// The publish-options field by which an account allows message bodies in notifications.
pub const FIELD_INCLUDE_BODY: &str = "include-body";

/// `<enable xmlns='urn:xmpp:push:0' jid=… node=…>` with its publish-options form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enable {
    /// The app server's JID (normalised on parse).
    pub jid: String,
    /// The node at the app server: one per device.
    pub node: String,
    /// Publish-options fields other than `FORM_TYPE` and `include-body`, in form order,
    /// with their first value; handed back to the app server with every notification.
    pub options: Vec<(String, String)>,
    /// `include-body` (`true` or `1`): notifications may carry message bodies.
    pub include_body: bool,
}

/// `<disable xmlns='urn:xmpp:push:0' jid=… [node=…]/>`: one device, or every device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDisable {
    /// The app server's JID (normalised on parse).
    pub service: String,
    /// One device's node; every node of that app server when absent.
    pub node: Option<String>,
}

/// What `PushSubscription.toJSON()` gives in a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPushSubscription {
    /// The push service URL for this browser.
    pub endpoint: String,
    /// `keys.p256dh`: the browser's P-256 public key, base64url.
    pub p256dh: String,
    /// `keys.auth`: the 16-byte authentication secret, base64url.
    pub auth: String,
}

/// An [`Enable`] for a Web Push app server: the browser's subscription in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEnable {
    /// The app server's JID (`push.<domain>` on the bundled server; disco#info on it gives
    /// the VAPID key, as does `GET /push/vapid`).
    pub service: String,
    /// One node per device: re-enabling with the same node replaces that device's
    /// registration. A base64url SHA-256 of the endpoint works well.
    pub node: String,
    /// The browser's push subscription.
    pub subscription: WebPushSubscription,
    /// Whether notifications may carry message bodies.
    pub include_body: bool,
}

/// A JID attribute, checked and normalised (surrounding blanks ignored).
fn jid_attr(elem: &Element, element: &'static str) -> Result<String, ParseError> {
    let v = elem.attr("jid").ok_or(ParseError::MissingAttribute {
        element,
        attribute: "jid",
    })?;
    jid::Jid::new(v.trim())
        .map(|j| j.to_string())
        .map_err(|e| ParseError::BadAttribute {
            element,
            attribute: "jid",
            reason: format!("not a valid JID: {e}"),
        })
}

fn node_attr(elem: &Element, element: &'static str) -> Result<Option<String>, ParseError> {
    match elem.attr("node") {
        Some("") => Err(ParseError::BadAttribute {
            element,
            attribute: "node",
            reason: "empty".into(),
        }),
        other => Ok(other.map(str::to_owned)),
    }
}

impl TryFrom<&Element> for Enable {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "enable", ns::PUSH)?;
        let jid = jid_attr(elem, "enable")?;
        let node = node_attr(elem, "enable")?.ok_or(ParseError::MissingAttribute {
            element: "enable",
            attribute: "node",
        })?;
        let mut out = Enable {
            jid,
            node,
            ..Enable::default()
        };
        if let Some(form) = forms::child(elem, "enable")? {
            if let Some(t) = form.form_type().filter(|t| *t != ns::PUBLISH_OPTIONS) {
                return Err(ParseError::BadField {
                    element: "enable",
                    var: "FORM_TYPE".into(),
                    reason: format!("must be {}, not {t:?}", ns::PUBLISH_OPTIONS),
                });
            }
            for f in forms::fields(&form) {
                let var = f.var.clone().unwrap_or_default();
                let value = f.values.first().cloned().unwrap_or_default();
                if var == FIELD_INCLUDE_BODY {
                    out.include_body = matches!(value.trim(), "1" | "true");
                } else {
                    out.options.push((var, value));
                }
            }
        }
        Ok(out)
    }
}

crate::xml::try_from_owned!(Enable);

fn field(var: &str, value: &str) -> Element {
    with_attr(builder("field", ns::DATA_FORMS), "var", Some(var))
        .append(text_element("value", ns::DATA_FORMS, value))
        .build()
}

/// The one builder of `<enable/>`, for [`Enable`] and its [`PushEnable`] view.
fn enable_element(
    jid: String,
    node: String,
    options: &[(&str, &str)],
    include_body: bool,
) -> Element {
    let include = if include_body { "true" } else { "false" };
    let form = with_attr(builder("x", ns::DATA_FORMS), "type", Some("submit"))
        .append(field("FORM_TYPE", ns::PUBLISH_OPTIONS))
        .append_all(
            options
                .iter()
                .map(|(var, v)| field(var, v))
                .collect::<Vec<_>>(),
        )
        .append(field(FIELD_INCLUDE_BODY, include))
        .build();
    let b = with_attr(builder("enable", ns::PUSH), "jid", Some(jid));
    with_attr(b, "node", Some(node)).append(form).build()
}

impl From<Enable> for Element {
    fn from(e: Enable) -> Element {
        let options: Vec<(&str, &str)> = e
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        enable_element(e.jid, e.node, &options, e.include_body)
    }
}

/// The publish-options of a Web Push subscription.
fn web_push_options(s: &WebPushSubscription) -> [(&'static str, &str); 3] {
    [
        ("endpoint", s.endpoint.as_str()),
        ("p256dh", s.p256dh.as_str()),
        ("auth", s.auth.as_str()),
    ]
}

impl From<PushEnable> for Enable {
    fn from(p: PushEnable) -> Enable {
        let options = web_push_options(&p.subscription)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Enable {
            jid: p.service,
            node: p.node,
            options,
            include_body: p.include_body,
        }
    }
}

impl TryFrom<Enable> for PushEnable {
    type Error = ParseError;
    fn try_from(e: Enable) -> Result<Self, ParseError> {
        let get = |var: &'static str| {
            e.options
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
                .ok_or(ParseError::MissingAttribute {
                    element: "enable",
                    attribute: var,
                })
        };
        Ok(PushEnable {
            subscription: WebPushSubscription {
                endpoint: get("endpoint")?,
                p256dh: get("p256dh")?,
                auth: get("auth")?,
            },
            service: e.jid,
            node: e.node,
            include_body: e.include_body,
        })
    }
}

impl From<PushEnable> for Element {
    fn from(p: PushEnable) -> Element {
        let options = web_push_options(&p.subscription);
        enable_element(p.service, p.node, &options, p.include_body)
    }
}

impl TryFrom<&Element> for PushEnable {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        PushEnable::try_from(Enable::try_from(elem)?)
    }
}

impl From<PushDisable> for Element {
    fn from(d: PushDisable) -> Element {
        let b = with_attr(builder("disable", ns::PUSH), "jid", Some(d.service));
        with_attr(b, "node", d.node).build()
    }
}

impl TryFrom<&Element> for PushDisable {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "disable", ns::PUSH)?;
        Ok(PushDisable {
            service: jid_attr(elem, "disable")?,
            node: node_attr(elem, "disable")?,
        })
    }
}

crate::xml::try_from_owned!(PushDisable);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PushEnable {
        PushEnable {
            service: "push.localhost".into(),
            node: "dev-1".into(),
            subscription: WebPushSubscription {
                endpoint: "https://push.example/abc".into(),
                p256dh: "BCVxsr7N".into(),
                auth: "BTBZMqHH".into(),
            },
            include_body: true,
        }
    }

    #[test]
    fn enable_round_trips_and_carries_the_subscription() {
        let el = Element::from(sample());
        let xml = String::from(&el);
        assert!(xml.contains("http://jabber.org/protocol/pubsub#publish-options"));
        assert!(xml.contains("https://push.example/abc"));
        assert_eq!(PushEnable::try_from(&el).unwrap(), sample());
        let mut quiet = sample();
        quiet.include_body = false;
        assert_eq!(
            PushEnable::try_from(&Element::from(quiet.clone())).unwrap(),
            quiet
        );
        let generic = Enable::try_from(&el).unwrap();
        assert_eq!(generic.options.len(), 3);
        assert!(generic.include_body);
        assert_eq!(
            Enable::try_from(Element::from(generic.clone())),
            Ok(generic)
        );
    }

    #[test]
    fn enable_without_form_is_an_enable_without_options() {
        let el: Element = "<enable xmlns='urn:xmpp:push:0' jid=' Push.Localhost ' node='n'/>"
            .parse()
            .unwrap();
        let e = Enable::try_from(&el).unwrap();
        assert_eq!((e.jid.as_str(), e.options.len()), ("push.localhost", 0));
        assert_eq!(
            PushEnable::try_from(&el),
            Err(ParseError::MissingAttribute {
                element: "enable",
                attribute: "endpoint"
            })
        );
    }

    #[test]
    fn disable_with_and_without_node() {
        for node in [None, Some("dev-1".to_string())] {
            let d = PushDisable {
                service: "push.localhost".into(),
                node,
            };
            assert_eq!(PushDisable::try_from(&Element::from(d.clone())).unwrap(), d);
        }
        let el: Element = "<disable xmlns='urn:xmpp:push:0'/>".parse().unwrap();
        assert!(PushDisable::try_from(&el).is_err());
    }

    #[test]
    fn bad_parts_are_named() {
        let parse = |xml: &str| Enable::try_from(&xml.parse::<Element>().unwrap());
        let attr = |r: Result<Enable, ParseError>| match r {
            Err(ParseError::MissingAttribute { attribute, .. })
            | Err(ParseError::BadAttribute { attribute, .. }) => attribute,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            attr(parse("<enable xmlns='urn:xmpp:push:0' node='n'/>")),
            "jid"
        );
        assert_eq!(
            attr(parse(
                "<enable xmlns='urn:xmpp:push:0' jid='a@@b' node='n'/>"
            )),
            "jid"
        );
        assert_eq!(
            attr(parse("<enable xmlns='urn:xmpp:push:0' jid='p.l'/>")),
            "node"
        );
        assert_eq!(
            attr(parse("<enable xmlns='urn:xmpp:push:0' jid='p.l' node=''/>")),
            "node"
        );
        let wrong_type = parse(
            "<enable xmlns='urn:xmpp:push:0' jid='p.l' node='n'><x xmlns='jabber:x:data' \
             type='submit'><field var='FORM_TYPE'><value>other</value></field></x></enable>",
        );
        assert!(matches!(wrong_type, Err(ParseError::BadField { var, .. }) if var == "FORM_TYPE"));
        let untyped_form = parse(
            "<enable xmlns='urn:xmpp:push:0' jid='p.l' node='n'><x xmlns='jabber:x:data'/></enable>",
        );
        assert!(matches!(
            untyped_form,
            Err(ParseError::BadChild { child: "x", .. })
        ));
    }
}
