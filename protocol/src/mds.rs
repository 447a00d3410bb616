//! XEP-0490 message displayed synchronization: an account's devices share how far the user
//! has read each room through the account's PEP node `urn:xmpp:mds:displayed:0`, one item
//! per room (item id = the room's bare JID) holding
//! `<displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' id by/></displayed>`
//! (xmpp-parsers' [`Displayed`]). Here: the publish a device sends (with the XEP's
//! publish-options), the request for every item (on connect), and the markers read out of a
//! pubsub `<items/>` answer or an `<event/>` notification.

use minidom::Element;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message_displayed::Displayed;
use xmpp_parsers::pubsub::event::{Event, Payload};
use xmpp_parsers::pubsub::pubsub::{Item, Items, Publish, PublishOptions};
use xmpp_parsers::pubsub::{ItemId, NodeName, PubSub};
use xmpp_parsers::stanza_id::StanzaId;

use crate::forms::{self, DataFormType};
use crate::ns;

/// A room read up to one of its archived messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The room's bare JID (the item id).
    pub room: String,
    /// The room's archive id (XEP-0359 stanza-id, `by` the room) of the last read message.
    pub stanza_id: String,
}

/// The `<pubsub/>` payload of the IQ set that publishes `marker`, with the publish-options
/// XEP-0490 §4 asks for: kept, many items, never pushed as "last item", private.
pub fn publish(marker: &Marker) -> Option<Element> {
    let by = Jid::new(&marker.room).ok()?;
    let payload = Displayed {
        stanza_id: StanzaId {
            id: marker.stanza_id.clone(),
            by,
        },
    };
    let options = forms::with_type(
        DataFormType::Submit,
        ns::PUBLISH_OPTIONS,
        vec![
            forms::field("pubsub#persist_items", ["true"]),
            forms::field("pubsub#max_items", ["max"]),
            forms::field("pubsub#send_last_published_item", ["never"]),
            forms::field("pubsub#access_model", ["whitelist"]),
        ],
    );
    Some(
        PubSub::Publish {
            publish: Publish {
                node: NodeName(ns::MDS.to_owned()),
                items: vec![Item {
                    id: Some(ItemId(marker.room.clone())),
                    publisher: None,
                    payload: Some(payload.into()),
                }],
            },
            publish_options: Some(PublishOptions {
                form: Some(options),
            }),
        }
        .into(),
    )
}

/// The `<pubsub/>` payload of the IQ get for every marker of the account.
pub fn request_all() -> Element {
    PubSub::Items(Items::new(ns::MDS)).into()
}

/// The markers in the answer to [`request_all`] (its `<pubsub/>` child); items that are not
/// markers, or whose stanza-id another entity than the room stamped, are left out.
pub fn from_items(pubsub: &Element) -> Vec<Marker> {
    match PubSub::try_from(pubsub.clone()) {
        Ok(PubSub::Items(items)) if items.node.0 == ns::MDS => items
            .items
            .into_iter()
            .filter_map(|i| marker(i.id?.0, i.payload?))
            .collect(),
        _ => Vec::new(),
    }
}

/// The markers a PEP notification (`<event xmlns='…pubsub#event'/>`) carries.
pub fn from_event(event: &Element) -> Vec<Marker> {
    match Event::try_from(event.clone()) {
        Ok(Event {
            payload: Payload::Items {
                node, published, ..
            },
        }) if node.0 == ns::MDS => published
            .into_iter()
            .filter_map(|i| marker(i.id?.0, i.payload?))
            .collect(),
        _ => Vec::new(),
    }
}

fn marker(room: String, payload: Element) -> Option<Marker> {
    let d = Displayed::try_from(payload).ok()?;
    // The id is the room's archive id only when the room stamped it (XEP-0490 §4).
    (d.stanza_id.by.to_bare().as_str() == room).then_some(Marker {
        room,
        stanza_id: d.stanza_id.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
