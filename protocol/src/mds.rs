//! XEP-0490 message displayed synchronization: an account's devices share how far the user
//! has read each room through the account's PEP node `urn:xmpp:mds:displayed:0`, one item
//! per room (item id = the room's bare JID) holding
//! `<displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' id by/></displayed>`.
//! Here: the publish a device sends (with the XEP's publish-options), the request for every
//! item (on connect), and the markers read out of a pubsub `<items/>` answer or an `<event/>`
//! notification.
//!
//! Written over minidom rather than with xmpp-parsers' `PubSub` and `Event`: only the SDK
//! uses this, and their generated parsers and serialisers (with data forms and their
//! validation and media elements behind them) were about a third of the browser package.

use jid::Jid;
use minidom::Element;

use crate::ns;
use crate::xml::{builder, text_element, with_attr};

/// A room read up to one of its archived messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The room's bare JID (the item id).
    pub room: String,
    /// The room's archive id (XEP-0359 stanza-id, `by` the room) of the last read message.
    pub stanza_id: String,
}

/// The `<pubsub/>` payload of the IQ set that publishes `marker`, with the publish-options
/// XEP-0490 §4 asks for: kept, many items, never pushed as "last item", private. `None`
/// when the room is no JID.
pub fn publish(marker: &Marker) -> Option<Element> {
    let by = Jid::new(&marker.room).ok()?;
    let stanza_id = with_attr(
        with_attr(
            builder("stanza-id", ns::SID),
            "id",
            Some(&*marker.stanza_id),
        ),
        "by",
        Some(by.as_str()),
    );
    let item = with_attr(builder("item", ns::PUBSUB), "id", Some(&*marker.room)).append(
        builder("displayed", ns::MDS)
            .append(stanza_id.build())
            .build(),
    );
    let publish =
        with_attr(builder("publish", ns::PUBSUB), "node", Some(ns::MDS)).append(item.build());
    let form = with_attr(builder("x", ns::DATA_FORMS), "type", Some("submit"))
        .append(
            with_attr(
                with_attr(builder("field", ns::DATA_FORMS), "var", Some("FORM_TYPE")),
                "type",
                Some("hidden"),
            )
            .append(text_element("value", ns::DATA_FORMS, ns::PUBLISH_OPTIONS))
            .build(),
        )
        .append_all(
            [
                ("pubsub#persist_items", "true"),
                ("pubsub#max_items", "max"),
                ("pubsub#send_last_published_item", "never"),
                ("pubsub#access_model", "whitelist"),
            ]
            .into_iter()
            .map(|(var, value)| {
                with_attr(builder("field", ns::DATA_FORMS), "var", Some(var))
                    .append(text_element("value", ns::DATA_FORMS, value))
                    .build()
            }),
        );
    let options = builder("publish-options", ns::PUBSUB).append(form.build());
    Some(
        builder("pubsub", ns::PUBSUB)
            .append(publish.build())
            .append(options.build())
            .build(),
    )
}

/// The `<pubsub/>` payload of the IQ get for every marker of the account.
pub fn request_all() -> Element {
    builder("pubsub", ns::PUBSUB)
        .append(with_attr(builder("items", ns::PUBSUB), "node", Some(ns::MDS)).build())
        .build()
}

/// The markers in the answer to [`request_all`] (its `<pubsub/>` child); items that are not
/// markers, or whose stanza-id another entity than the room stamped, are left out.
pub fn from_items(pubsub: &Element) -> Vec<Marker> {
    if !pubsub.is("pubsub", ns::PUBSUB) {
        return Vec::new();
    }
    markers(pubsub, ns::PUBSUB)
}

/// The markers a PEP notification (`<event xmlns='…pubsub#event'/>`) carries.
pub fn from_event(event: &Element) -> Vec<Marker> {
    if !event.is("event", ns::PUBSUB_EVENT) {
        return Vec::new();
    }
    markers(event, ns::PUBSUB_EVENT)
}

/// The markers of the `<items node=MDS/>` child of `parent`, its children in namespace `ns`.
fn markers(parent: &Element, ns: &str) -> Vec<Marker> {
    parent
        .children()
        .filter(|c| c.is("items", ns) && c.attr("node") == Some(ns::MDS))
        .flat_map(|items| items.children().filter(|c| c.is("item", ns)))
        .filter_map(marker)
        .collect()
}

fn marker(item: &Element) -> Option<Marker> {
    let room = item.attr("id")?;
    let sid = item
        .get_child("displayed", ns::MDS)?
        .get_child("stanza-id", ns::SID)?;
    let (id, by) = (sid.attr("id")?, Jid::new(sid.attr("by")?).ok()?);
    // The id is the room's archive id only when the room stamped it (XEP-0490 §4).
    (by.to_bare().as_str() == room).then(|| Marker {
        room: room.to_owned(),
        stanza_id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms;

    const ROOM: &str = "room@conference.localhost";

    fn m(id: &str) -> Marker {
        Marker {
            room: ROOM.into(),
            stanza_id: id.into(),
        }
    }

    #[test]
    fn a_publish_reads_back_as_items_and_as_a_notification() {
        let p = publish(&m("42")).unwrap();
        let publish = p.get_child("publish", ns::PUBSUB).unwrap();
        assert_eq!(publish.attr("node"), Some(ns::MDS));
        let item = publish.get_child("item", ns::PUBSUB).unwrap();
        assert_eq!(item.attr("id"), Some(ROOM));
        let sid = item
            .get_child("displayed", ns::MDS)
            .and_then(|d| d.get_child("stanza-id", ns::SID))
            .unwrap();
        assert_eq!((sid.attr("id"), sid.attr("by")), (Some("42"), Some(ROOM)));
        let opts = p.get_child("publish-options", ns::PUBSUB).unwrap();
        let form = forms::child(opts, "publish-options").unwrap().unwrap();
        assert_eq!(forms::value(&form, "pubsub#max_items"), Some("max"));
        assert_eq!(
            forms::value(&form, "pubsub#access_model"),
            Some("whitelist")
        );
        assert_eq!(forms::value(&form, "pubsub#persist_items"), Some("true"));

        let answer: Element = format!(
            "<pubsub xmlns='{}'><items node='{}'>{}</items></pubsub>",
            ns::PUBSUB,
            ns::MDS,
            String::from(item)
        )
        .parse()
        .unwrap();
        assert_eq!(from_items(&answer), vec![m("42")]);
        let event: Element = format!(
            "<event xmlns='{}'><items node='{}'><item id='{ROOM}'>\
             <displayed xmlns='{}'><stanza-id xmlns='{}' id='7' by='{ROOM}'/></displayed>\
             </item></items></event>",
            ns::PUBSUB_EVENT,
            ns::MDS,
            ns::MDS,
            ns::SID
        )
        .parse()
        .unwrap();
        assert_eq!(from_event(&event), vec![m("7")]);
        assert!(request_all().get_child("items", ns::PUBSUB).is_some());
    }

    /// The hand-written publish is what xmpp-parsers (the server's reader) reads as a
    /// publish of one marker with the four publish-options.
    #[test]
    fn the_publish_is_a_strict_pubsub_publish() {
        use xmpp_parsers::pubsub::PubSub;
        let Ok(PubSub::Publish {
            publish,
            publish_options,
        }) = PubSub::try_from(publish(&m("42")).unwrap())
        else {
            panic!("not a publish");
        };
        assert_eq!(publish.node.0, ns::MDS);
        let item = &publish.items[0];
        assert_eq!(item.id.as_ref().unwrap().0, ROOM);
        let d = xmpp_parsers::message_displayed::Displayed::try_from(item.payload.clone().unwrap())
            .unwrap();
        assert_eq!(
            (d.stanza_id.id.as_str(), d.stanza_id.by.as_str()),
            ("42", ROOM)
        );
        let form = publish_options.unwrap().form.unwrap();
        assert_eq!(form.form_type(), Some(ns::PUBLISH_OPTIONS));
        assert_eq!(
            forms::value(&form, "pubsub#send_last_published_item"),
            Some("never")
        );
        assert_eq!(forms::fields(&form).count(), 4);
    }

    #[test]
    fn other_nodes_and_ids_stamped_by_someone_else_are_no_markers() {
        let event = |node: &str, by: &str| -> Element {
            format!(
                "<event xmlns='{}'><items node='{node}'><item id='{ROOM}'>\
                 <displayed xmlns='{}'><stanza-id xmlns='{}' id='7' by='{by}'/></displayed>\
                 </item></items></event>",
                ns::PUBSUB_EVENT,
                ns::MDS,
                ns::SID
            )
            .parse()
            .unwrap()
        };
        assert!(from_event(&event("urn:other", ROOM)).is_empty());
        assert!(from_event(&event(ns::MDS, "other@conference.localhost")).is_empty());
        assert_eq!(from_event(&event(ns::MDS, ROOM)).len(), 1);
        assert!(publish(&Marker {
            room: "not a jid@@".into(),
            stanza_id: "1".into()
        })
        .is_none());
    }
}
