//! PEP's wire, over xmpp-parsers' pubsub elements: the requests a session sends
//! ([`request`]) and what the service sends back (results, `<event/>` notifications).

use minidom::Element;
use mucsub_protocol::forms;
use mucsub_protocol::pubsub::event::{Event, Item as EventItem, Payload};
use mucsub_protocol::pubsub::pubsub::{Item, Items, Publish};
use mucsub_protocol::pubsub::{ItemId, NodeName, PubSub};

use crate::ns;
use crate::stanza::{set_attr, ErrorType, Refusal};
use crate::storage::PepItem;

/// Features of an account's bare JID (XEP-0163 §8, XEP-0060 §10), what XEP-0490 and
/// XEP-0402 clients check before publishing.
pub const ACCOUNT_FEATURES: &[&str] = &[
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#retrieve-items",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#last-published",
];

/// How many items the MDS and bookmarks nodes keep (one per chat or room).
pub const MANY_ITEMS: usize = 10_000;

/// What a session asks of its account's PEP service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Publish {
        item: PepItem,
        max_items: usize,
    },
    /// The node's items (those with `ids` when given), the newest `max` when given.
    Items {
        node: String,
        ids: Vec<String>,
        max: Option<usize>,
    },
    Retract {
        node: String,
        ids: Vec<String>,
        notify: bool,
    },
}

/// The request in a pubsub IQ.
pub fn request(iq: &Element) -> Result<Request, Refusal> {
    let payload = iq
        .get_child("pubsub", ns::PUBSUB)
        .ok_or_else(|| Refusal::bad_request("A <pubsub/> payload is required"))?;
    let req = PubSub::try_from(payload.clone()).map_err(|e| Refusal::bad_request(e.to_string()))?;
    let set = iq.attr("type") == Some("set");
    match (set, req) {
        (
            true,
            PubSub::Publish {
                publish,
                publish_options,
            },
        ) => {
            let node = publish.node.0;
            let [item] = <[Item; 1]>::try_from(publish.items)
                .map_err(|_| Refusal::bad_request("Publish exactly one item"))?;
            let payload = item
                .payload
                .ok_or_else(|| Refusal::bad_request("The item has no payload"))?;
            let id = item.id.map(|i| i.0).unwrap_or_else(new_id);
            let asked = publish_options
                .and_then(|o| o.form)
                .and_then(|f| forms::value(&f, "pubsub#max_items").map(str::to_owned));
            Ok(Request::Publish {
                max_items: max_items(&node, asked.as_deref()),
                item: stored(&node, &id, &payload),
            })
        }
        (false, PubSub::Items(items)) => Ok(Request::Items {
            node: items.node.0,
            ids: items
                .items
                .into_iter()
                .filter_map(|i| i.id)
                .map(|i| i.0)
                .collect(),
            max: items.max_items.map(|m| m as usize),
        }),
        (true, PubSub::Retract(r)) => Ok(Request::Retract {
            node: r.node.0,
            ids: r
                .items
                .into_iter()
                .filter_map(|i| i.id)
                .map(|i| i.0)
                .collect(),
            notify: r.notify,
        }),
        _ => Err(Refusal::new(
            ErrorType::Cancel,
            "feature-not-implemented",
            "This PEP service publishes, retrieves and retracts items only",
        )),
    }
}

/// How many items `node` keeps: the MDS and bookmarks nodes many (one per chat), others
/// what the publish-options ask (`max` or a number), else one (XEP-0163 §4.3).
fn max_items(node: &str, asked: Option<&str>) -> usize {
    if node == ns::MDS || node == ns::BOOKMARKS2 {
        return MANY_ITEMS;
    }
    match asked {
        Some("max") => MANY_ITEMS,
        Some(n) => n.parse::<usize>().map_or(1, |n| n.clamp(1, MANY_ITEMS)),
        None => 1,
    }
}

/// The item as stored.
fn stored(node: &str, id: &str, payload: &Element) -> PepItem {
    PepItem {
        node: node.to_owned(),
        id: id.to_owned(),
        payload: String::from(payload),
    }
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The result of a publish: the node and the item's id.
pub fn published(node: &str, id: &str) -> Element {
    PubSub::Publish {
        publish: Publish {
            node: NodeName(node.to_owned()),
            items: vec![Item {
                id: Some(ItemId(id.to_owned())),
                publisher: None,
                payload: None,
            }],
        },
        publish_options: None,
    }
    .into()
}

/// The result of an items request.
pub fn items_reply(node: &str, items: &[PepItem]) -> Element {
    let mut reply = Items::new(node);
    reply.items = items
        .iter()
        .map(|i| Item {
            id: Some(ItemId(i.id.clone())),
            publisher: None,
            payload: i.payload.parse().ok(),
        })
        .collect();
    PubSub::Items(reply).into()
}

/// The headline `<message/>` from the account to itself holding `payload`.
fn event_message(bare: &str, payload: Payload) -> Element {
    let mut m = Element::builder("message", ns::CLIENT)
        .append(Element::from(Event { payload }))
        .build();
    set_attr(&mut m, "from", bare);
    set_attr(&mut m, "to", bare);
    set_attr(&mut m, "type", "headline");
    set_attr(&mut m, "id", &new_id());
    m
}

/// The notification of a published item.
pub fn item_event(bare: &str, item: &PepItem) -> Element {
    event_message(
        bare,
        Payload::Items {
            node: NodeName(item.node.clone()),
            published: vec![EventItem {
                id: Some(ItemId(item.id.clone())),
                publisher: None,
                payload: item.payload.parse().ok(),
            }],
            retracted: Vec::new(),
        },
    )
}

/// The notification of a retracted item.
pub fn retract_event(bare: &str, node: &str, id: &str) -> Element {
    event_message(
        bare,
        Payload::Items {
            node: NodeName(node.to_owned()),
            published: Vec::new(),
            retracted: vec![ItemId(id.to_owned())],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iq(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn a_displayed_marker_publish_reads_with_many_items() {
        let r = request(&iq("<iq xmlns='jabber:client' type='set' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:mds:displayed:0'><item id='room@muc'><displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='room@muc' id='42'/></displayed></item></publish></pubsub></iq>")).unwrap();
        let Request::Publish { item, max_items } = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            (item.node.as_str(), item.id.as_str()),
            (ns::MDS, "room@muc")
        );
        assert!(item.payload.contains("displayed"));
        assert_eq!(max_items, MANY_ITEMS);
    }

    #[test]
    fn other_nodes_keep_what_the_options_ask_and_bad_requests_are_refused() {
        assert_eq!(max_items("urn:x", None), 1);
        assert_eq!(max_items("urn:x", Some("max")), MANY_ITEMS);
        assert_eq!(max_items("urn:x", Some("5")), 5);
        let two = "<iq xmlns='jabber:client' type='set' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item id='a'><x xmlns='urn:x'/></item><item id='b'><x xmlns='urn:x'/></item></publish></pubsub></iq>";
        assert!(request(&iq(two)).is_err());
        let empty = "<iq xmlns='jabber:client' type='set' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item id='a'/></publish></pubsub></iq>";
        assert!(request(&iq(empty)).is_err());
        let create = "<iq xmlns='jabber:client' type='set' id='1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='n'/></pubsub></iq>";
        assert_eq!(
            request(&iq(create)).unwrap_err().condition,
            "feature-not-implemented"
        );
    }
}
