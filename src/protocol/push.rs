//! XEP-0357 push registration payloads, as the bundled server's Web Push app server
//! expects them: the browser's `PushSubscription` travels in the publish-options form of
//! `<enable/>` (fields `endpoint`, `p256dh`, `auth`), plus `include-body`, by which the
//! account allows message bodies in notifications.
//!
//! The IQ is a `set` addressed to the account's own bare JID (or with no `to`).

use minidom::Element;

use super::xml::{builder, expect, with_attr};
use super::ParseError;

/// XEP-0357 namespace.
pub const NS_PUSH: &str = "urn:xmpp:push:0";
const NS_PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
const NS_DATA: &str = "jabber:x:data";

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

/// `<enable xmlns='urn:xmpp:push:0' jid=… node=…>` with the publish-options form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEnable {
    /// The app server's JID (`push.<domain>` on the bundled server; disco#info on it gives
    /// the VAPID key, as does `GET /push/vapid`).
    pub service: String,
    /// One node per device: re-enabling with the same node replaces that device's
    /// registration. A base64url SHA-256 of the endpoint works well.
    pub node: String,
    pub subscription: WebPushSubscription,
    /// Whether notifications may carry message bodies.
    pub include_body: bool,
}

/// `<disable xmlns='urn:xmpp:push:0' jid=… [node=…]/>`: one device, or every device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDisable {
    pub service: String,
    pub node: Option<String>,
}

fn field(var: &'static str, value: &str) -> Element {
    with_attr(builder("field", NS_DATA), "var", Some(var))
        .append(builder("value", NS_DATA).append(value.to_owned()).build())
        .build()
}

impl From<PushEnable> for Element {
    fn from(e: PushEnable) -> Element {
        let form = with_attr(builder("x", NS_DATA), "type", Some("submit"))
            .append(field("FORM_TYPE", NS_PUBLISH_OPTIONS))
            .append(field("endpoint", &e.subscription.endpoint))
            .append(field("p256dh", &e.subscription.p256dh))
            .append(field("auth", &e.subscription.auth))
            .append(field(
                "include-body",
                if e.include_body { "true" } else { "false" },
            ))
            .build();
        let b = with_attr(builder("enable", NS_PUSH), "jid", Some(e.service));
        with_attr(b, "node", Some(e.node)).append(form).build()
    }
}

impl From<PushDisable> for Element {
    fn from(d: PushDisable) -> Element {
        let b = with_attr(builder("disable", NS_PUSH), "jid", Some(d.service));
        with_attr(b, "node", d.node).build()
    }
}

fn required(
    elem: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, ParseError> {
    elem.attr(attribute)
        .map(str::to_owned)
        .ok_or(ParseError::MissingAttribute { element, attribute })
}

impl TryFrom<&Element> for PushDisable {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "disable", NS_PUSH)?;
        Ok(PushDisable {
            service: required(elem, "disable", "jid")?,
            node: elem.attr("node").map(str::to_owned),
        })
    }
}

impl TryFrom<&Element> for PushEnable {
    type Error = ParseError;
    fn try_from(elem: &Element) -> Result<Self, ParseError> {
        expect(elem, "enable", NS_PUSH)?;
        let values: Vec<(String, String)> = elem
            .children()
            .find(|c| c.is("x", NS_DATA))
            .map(|x| {
                x.children()
                    .filter(|f| f.is("field", NS_DATA))
                    .filter_map(|f| {
                        let value = f.children().find(|v| v.is("value", NS_DATA))?.text();
                        Some((f.attr("var")?.to_owned(), value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let get = |var: &'static str| {
            values
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
                .ok_or(ParseError::MissingAttribute {
                    element: "enable",
                    attribute: var,
                })
        };
        Ok(PushEnable {
            service: required(elem, "enable", "jid")?,
            node: required(elem, "enable", "node")?,
            subscription: WebPushSubscription {
                endpoint: get("endpoint")?,
                p256dh: get("p256dh")?,
                auth: get("auth")?,
            },
            include_body: get("include-body").is_ok_and(|v| v == "true" || v == "1"),
        })
    }
}

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
    }

    #[test]
    fn missing_parts_are_named() {
        let el: Element = "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'/>"
            .parse()
            .unwrap();
        assert_eq!(
            PushEnable::try_from(&el),
            Err(ParseError::MissingAttribute {
                element: "enable",
                attribute: "endpoint"
            })
        );
        let el: Element = "<disable xmlns='urn:xmpp:push:0'/>".parse().unwrap();
        assert!(PushDisable::try_from(&el).is_err());
    }
}
