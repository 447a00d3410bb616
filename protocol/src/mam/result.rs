//! `<message><result xmlns='urn:xmpp:mam:2' queryid=… id=…><forwarded><delay/>…` — one
//! archived stanza of a page. The archive builds it ([`MamResult`]); the SDK reads it
//! ([`archived_stanza`], [`take_archived_stanza`]), by hand over minidom because it reads
//! every result of a resync and moves the archived message out instead of copying it.

use minidom::Element;

use crate::ns;
use crate::time::{format_micros, Timestamp};
use crate::xml::{builder, escape_attr, ncname, with_attr};

/// The addressing and archive data of one result; the archived message goes in with
/// [`MamResult::element`] or, already serialised, [`MamResult::xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MamResult {
    /// The requester's full JID.
    pub to: String,
    /// The archive's JID (the room).
    pub from: String,
    /// The query's `queryid`, echoed.
    pub queryid: Option<String>,
    /// The archive id.
    pub id: String,
    /// Archive time, microseconds since the epoch (`<delay stamp/>`).
    pub stamp_us: i64,
    /// `<delay from/>`: who delayed it (the MUC service).
    pub delay_from: Option<String>,
}

impl MamResult {
    /// The result message with `message` forwarded in it.
    pub fn element(&self, message: Element) -> Element {
        let delay = with_attr(builder("delay", ns::DELAY), "from", self.delay_from.clone())
            .attr(ncname("stamp"), format_micros(self.stamp_us))
            .build();
        let forwarded = builder("forwarded", ns::FORWARD)
            .append(delay)
            .append(message)
            .build();
        let result = with_attr(builder("result", ns::MAM), "queryid", self.queryid.clone())
            .attr(ncname("id"), self.id.clone())
            .append(forwarded)
            .build();
        builder("message", ns::CLIENT)
            .attr(ncname("to"), self.to.clone())
            .attr(ncname("from"), self.from.clone())
            .append(result)
            .build()
    }

    /// [`MamResult::element`] as text around `message_xml`, a whole `<message/>` in
    /// `jabber:client` already serialised (the archive stores stanzas as text: embedding
    /// it as it is spares parsing and writing it again, most of a page's cost).
    pub fn xml(&self, message_xml: &str) -> String {
        let attr = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| format!(" {name}='{}'", escape_attr(v)))
                .unwrap_or_default()
        };
        format!(
            "<message xmlns='{}' to='{}' from='{}'><result xmlns='{}'{} id='{}'><forwarded xmlns='{}'><delay xmlns='{}'{} stamp='{}'/>{message_xml}</forwarded></result></message>",
            ns::CLIENT,
            escape_attr(&self.to),
            escape_attr(&self.from),
            ns::MAM,
            attr("queryid", &self.queryid),
            escape_attr(&self.id),
            ns::FORWARD,
            ns::DELAY,
            attr("from", &self.delay_from),
            format_micros(self.stamp_us),
        )
    }
}

/// One archived stanza out of a `<result/>`, with the archive's id and time.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedStanza {
    /// The queryid it answers.
    pub queryid: Option<String>,
    /// The archive id (the room's stanza-id).
    pub id: String,
    /// The archive time (`<delay/>` in the forward), when present.
    pub stamp: Option<Timestamp>,
    /// The archived message.
    pub message: Element,
}

/// Pull a MAM result out of a `<message/>`; `None` when it carries none or it is malformed.
pub fn archived_stanza(message: &Element) -> Option<ArchivedStanza> {
    take_archived_stanza(&mut message.clone())
}

/// [`archived_stanza`] that moves the archived message out of `message` instead of copying
/// it (one copy of a whole stanza less per result during a resync). `None` when it carries
/// no result or the result is malformed; `message` is then left as it was.
pub fn take_archived_stanza(message: &mut Element) -> Option<ArchivedStanza> {
    let (queryid, id, stamp) = {
        let result = message.get_child("result", ns::MAM)?;
        let id = result.attr("id").filter(|id| !id.is_empty())?;
        let forwarded = result.get_child("forwarded", ns::FORWARD)?;
        if !forwarded.has_child("message", ns::CLIENT) {
            return None;
        }
        // A delay whose stamp does not parse makes the result malformed, as a missing one
        // does not: the caller then falls back to the message's own delay or the arrival
        // time.
        let stamp = match forwarded.get_child("delay", ns::DELAY) {
            Some(d) => Some(Timestamp::parse(d.attr("stamp")?)?),
            None => None,
        };
        (
            result.attr("queryid").map(str::to_owned),
            id.to_owned(),
            stamp,
        )
    };
    let inner = message
        .get_child_mut("result", ns::MAM)
        .and_then(|r| r.get_child_mut("forwarded", ns::FORWARD))
        .and_then(|f| f.remove_child("message", ns::CLIENT))?;
    Some(ArchivedStanza {
        queryid,
        id,
        stamp,
        message: inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::mam::Result_;

    #[test]
    fn reads_ejabberd_result() {
        let m: Element = r#"<message xmlns="jabber:client" to="bob@localhost/b1" from="coven2@conference.localhost"><result xmlns="urn:xmpp:mam:2" id="1795460995021531" queryid="f1"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" xml:lang="en" from="coven2@conference.localhost/alice" type="groupchat" id="m1"><archived xmlns="urn:xmpp:mam:tmp" by="coven2@conference.localhost" id="1795460995021531"/><stanza-id xmlns="urn:xmpp:sid:0" by="coven2@conference.localhost" id="1795460995021531"/><body>Hello subscribers</body></message><delay xmlns="urn:xmpp:delay" from="conference.localhost" stamp="2026-11-23T19:09:55.021531Z"/></forwarded></result></message>"#.parse().unwrap();
        let a = archived_stanza(&m).unwrap();
        assert_eq!(a.id, "1795460995021531");
        assert_eq!(a.queryid.as_deref(), Some("f1"));
        assert_eq!(a.stamp, Timestamp::parse("2026-11-23T19:09:55.021531Z"));
        assert_eq!(a.message.attr("id"), Some("m1"));
        // What xmpp-parsers' strict parser reads out of the same result.
        let r = Result_::try_from(m.get_child("result", ns::MAM).unwrap().clone()).unwrap();
        assert_eq!(r.id, a.id);
        assert_eq!(
            r.forwarded.delay.map(|d| Timestamp::from(&d.stamp)),
            a.stamp
        );
    }

    #[test]
    fn malformed_results_are_none() {
        for bad in [
            r#"<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" queryid="q"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"/></forwarded></result></message>"#,
            r#"<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" id="1"/></message>"#,
            r#"<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" id="1"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="yesterday"/><message xmlns="jabber:client"/></forwarded></result></message>"#,
        ] {
            let m: Element = bad.parse().unwrap();
            assert_eq!(archived_stanza(&m), None, "{bad}");
        }
    }

    fn sample() -> (MamResult, Element) {
        let r = MamResult {
            to: "a@localhost/x&y".into(),
            from: "r@conference.localhost".into(),
            queryid: Some("q'<".into()),
            id: "1795460995021531".into(),
            stamp_us: 1_795_460_995_021_531,
            delay_from: Some("conference.localhost".into()),
        };
        let msg: Element = "<message xmlns='jabber:client' from='r@conference.localhost/a&amp;b' type='groupchat'><body>1 &lt; 2</body></message>".parse().unwrap();
        (r, msg)
    }

    #[test]
    fn built_results_read_back_on_both_paths() {
        let (r, msg) = sample();
        let el = r.element(msg.clone());
        let text: Element = r.xml(&String::from(&msg)).parse().unwrap();
        assert_eq!(text, el);
        let a = archived_stanza(&el).unwrap();
        assert_eq!(a.id, r.id);
        assert_eq!(a.queryid, r.queryid);
        assert_eq!(a.stamp, Some(Timestamp(1_795_460_995_021)));
        assert_eq!(a.message, msg);
        assert_eq!(el.attr("to"), Some("a@localhost/x&y"));
        let strict = Result_::try_from(el.get_child("result", ns::MAM).unwrap().clone());
        assert_eq!(strict.unwrap().id, r.id);
        let bare = MamResult {
            queryid: None,
            delay_from: None,
            ..r
        };
        let text: Element = bare.xml(&String::from(&msg)).parse().unwrap();
        assert_eq!(text, bare.element(msg));
    }
}
