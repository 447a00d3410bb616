//! XEP-0357 `enable` / `disable` IQs. The registrations they store, per account and
//! device (one `node` per device), are [`crate::storage::PushStore`]'s.

use crate::stanza::Refusal;
use minidom::Element;
use mucsub_protocol::ns;
use mucsub_protocol::push::{Enable, PushDisable};

pub use crate::storage::push::{Registration, MAX_PER_ACCOUNT};

const MAX_NODE: usize = 256;
const MAX_FIELDS: usize = 16;
const MAX_VALUE: usize = 2048;
pub use mucsub_protocol::push::FIELD_INCLUDE_BODY;

/// A parsed `enable` or `disable` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Enable(Enable),
    Disable(PushDisable),
}

/// The push payload of an IQ, if it is one (`<enable/>` or `<disable/>` in `urn:xmpp:push:0`).
pub fn payload(iq: &Element) -> Option<&Element> {
    iq.children()
        .find(|c| c.ns() == ns::PUSH && (c.name() == "enable" || c.name() == "disable"))
}

fn checked_node(node: &str) -> Result<(), Refusal> {
    if node.len() > MAX_NODE {
        return Err(Refusal::bad_request(format!(
            "'node' must be 1 to {MAX_NODE} bytes"
        )));
    }
    Ok(())
}

/// This server's limits on a registration: node length, field count and sizes.
fn within_limits(e: &Enable) -> Result<(), Refusal> {
    checked_node(&e.node)?;
    // FORM_TYPE and include-body count as fields too.
    if e.options.len() + 2 > MAX_FIELDS {
        return Err(Refusal::bad_request(format!(
            "at most {MAX_FIELDS} publish-options fields"
        )));
    }
    for (var, value) in &e.options {
        if value.len() > MAX_VALUE || var.len() > MAX_NODE {
            return Err(Refusal::bad_request(format!(
                "field {var:?} is longer than {MAX_VALUE} bytes"
            )));
        }
    }
    Ok(())
}

/// Parses an IQ `set` carrying `<enable/>` or `<disable/>`.
pub fn parse(iq: &Element) -> Result<Command, Refusal> {
    let p = payload(iq).ok_or_else(|| Refusal::bad_request("no push payload"))?;
    if iq.attr("type") != Some("set") {
        return Err(Refusal::bad_request(
            "push enable/disable must be an IQ set",
        ));
    }
    let bad = |e: mucsub_protocol::ParseError| Refusal::bad_request(e.to_string());
    if p.name() == "disable" {
        let d = PushDisable::try_from(p).map_err(bad)?;
        if let Some(node) = &d.node {
            checked_node(node)?;
        }
        return Ok(Command::Disable(d));
    }
    let e = Enable::try_from(p).map_err(bad)?;
    within_limits(&e)?;
    Ok(Command::Enable(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iq(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn parses_enable_with_publish_options() {
        let cmd = parse(&iq("<iq xmlns='jabber:client' type='set' id='1'>
            <enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='dev1'>
              <x xmlns='jabber:x:data' type='submit'>
                <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
                <field var='endpoint'><value>https://push.example/abc</value></field>
                <field var='include-body'><value>true</value></field>
              </x></enable></iq>"))
        .unwrap();
        assert_eq!(
            cmd,
            Command::Enable(Enable {
                jid: "push.localhost".into(),
                node: "dev1".into(),
                options: vec![("endpoint".into(), "https://push.example/abc".into())],
                include_body: true,
            })
        );
    }

    #[test]
    fn parses_disable_with_and_without_node() {
        let all = parse(&iq("<iq xmlns='jabber:client' type='set' id='1'>
            <disable xmlns='urn:xmpp:push:0' jid='push.localhost'/></iq>"))
        .unwrap();
        assert_eq!(
            all,
            Command::Disable(PushDisable {
                service: "push.localhost".into(),
                node: None
            })
        );
        let one = parse(&iq("<iq xmlns='jabber:client' type='set' id='1'>
            <disable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'/></iq>"))
        .unwrap();
        assert!(matches!(one, Command::Disable(PushDisable { node: Some(n), .. }) if n == "n"));
    }

    #[test]
    fn refuses_malformed_requests() {
        let long_node = format!(
            "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='{}'/>",
            "n".repeat(MAX_NODE + 1)
        );
        for (xml, needle) in [
            ("<enable xmlns='urn:xmpp:push:0' node='n'/>", "'jid'"),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost'/>",
                "'node'",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='a@@b' node='n'/>",
                "not a valid JID",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node=''/>",
                "'node'",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'>\
                 <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>other</value></field></x>\
                 </enable>",
                "FORM_TYPE",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'>\
                 <x xmlns='jabber:x:data'><field var='endpoint'><value>e</value></field></x>\
                 </enable>",
                "<x/>",
            ),
            (long_node.as_str(), "'node'"),
        ] {
            let r = parse(&iq(&format!(
                "<iq xmlns='jabber:client' type='set' id='1'>{xml}</iq>"
            )))
            .unwrap_err();
            assert_eq!(r.condition, "bad-request");
            assert!(r.text.contains(needle), "{} lacks {needle}", r.text);
        }
        let get = parse(&iq("<iq xmlns='jabber:client' type='get' id='1'>
            <disable xmlns='urn:xmpp:push:0' jid='push.localhost'/></iq>"));
        assert!(get.is_err());
    }
}
