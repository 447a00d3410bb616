//! Stanzas to the MUC service itself (`conference.<domain>`): disco#info and disco#items
//! (the public rooms) and the account's own subscription list with the sync hint
//! (docs/protocol.md S1, S8, S19). Each is answered from storage on its own task, never
//! loading a room.

use jid::{BareJid, FullJid};
use minidom::Element;
use mucsub_protocol::time::Timestamp;
use mucsub_protocol::{Node, Subscription, Subscriptions, SyncEnd};

use super::shared::Shared;
use super::store::AccountSubscription;
use super::xml::{first_child, B};
use crate::ns;
use crate::stanza::{error_reply, iq_result, ErrorType};

/// Answers one stanza addressed to the service.
pub(super) async fn service_stanza(shared: Shared, from: FullJid, stanza: Element) {
    if stanza.name() != "iq" {
        if stanza.name() == "message" && stanza.attr("type") != Some("error") {
            let e = error_reply(&stanza, ErrorType::Cancel, "service-unavailable", None);
            shared.outlet.send(e).await;
        }
        return;
    }
    let kind = stanza.attr("type").unwrap_or("");
    if kind == "result" || kind == "error" {
        return;
    }
    let Some(payload) = first_child(&stanza) else {
        let e = error_reply(&stanza, ErrorType::Modify, "bad-request", None);
        shared.outlet.send(e).await;
        return;
    };
    let failed = |_| error_reply(&stanza, ErrorType::Wait, "internal-server-error", None);
    let payload_ns = payload.ns();
    let reply = match (kind, payload.name(), payload_ns.as_str()) {
        ("get", "query", ns::DISCO_INFO) => iq_result(&stanza, Some(service_disco_info())),
        ("get", "query", ns::DISCO_ITEMS) => {
            let domain = shared.muc_domain.clone();
            match shared.store.public_rooms().await {
                Ok(rooms) => iq_result(&stanza, Some(disco_items(&domain, rooms))),
                Err(e) => failed(e),
            }
        }
        ("get", "subscriptions", ns::MUCSUB) => {
            let me = from.to_bare().to_string();
            match shared.store.subscriptions_of(&me).await {
                Ok(subs) => {
                    let list = subscription_list(&shared.muc_domain, subs);
                    iq_result(&stanza, Some(list.into()))
                }
                Err(e) => failed(e),
            }
        }
        ("set", "subscriptions", ns::MUCSUB) => error_reply(
            &stanza,
            ErrorType::Cancel,
            "not-allowed",
            Some("The subscription list is read-only; subscribe to rooms one by one"),
        ),
        _ => error_reply(&stanza, ErrorType::Cancel, "service-unavailable", None),
    };
    shared.outlet.send(reply).await;
}

/// The account's subscriptions, one per room, each with the room's newest archive entry
/// as the sync hint (docs/protocol.md S19; its stamp to the millisecond, as the SDK keeps time).
fn subscription_list(muc_domain: &str, subs: Vec<AccountSubscription>) -> Subscriptions {
    let items = subs
        .into_iter()
        .map(|s| Subscription {
            jid: BareJid::new(&format!("{}@{muc_domain}", s.room)).ok(),
            nick: Some(s.nick),
            events: Node::parse_list(s.nodes.iter().map(String::as_str)),
            end: s.last.map(|(id, stamp_us)| SyncEnd {
                id: id.to_string(),
                stamp: Timestamp::from_millis(stamp_us.div_euclid(1000)),
            }),
        })
        .collect();
    Subscriptions { items }
}

/// The public rooms: (name, title).
fn disco_items(muc_domain: &str, rooms: Vec<(String, String)>) -> Element {
    let items = rooms.into_iter().map(|(name, title)| {
        B::new("item", ns::DISCO_ITEMS)
            .a("jid", format!("{name}@{muc_domain}"))
            .opt("name", (!title.is_empty()).then_some(title))
            .b()
    });
    B::new("query", ns::DISCO_ITEMS).cs(items).b()
}

pub fn service_disco_info() -> Element {
    let features = [
        ns::DISCO_INFO,
        ns::DISCO_ITEMS,
        ns::MUC,
        ns::MUCSUB,
        ns::MUCSUB_SYNC,
        ns::RSM,
        ns::MAM,
        ns::MAM_EXTENDED,
        ns::SID,
    ];
    B::new("query", ns::DISCO_INFO)
        .c(B::new("identity", ns::DISCO_INFO)
            .a("category", "conference")
            .a("type", "text")
            .a("name", "Chatrooms")
            .b())
        .cs(features
            .iter()
            .map(|f| B::new("feature", ns::DISCO_INFO).a("var", *f).b()))
        .b()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_list_carries_the_sync_hint_the_sdk_reads() {
        let subs = vec![
            AccountSubscription {
                room: "lab".into(),
                nick: "bob".into(),
                nodes: vec![
                    "urn:xmpp:mucsub:nodes:messages".into(),
                    "urn:xmpp:mucsub:nodes:bogus".into(),
                ],
                last: Some((1_795_460_995_021_531, 1_795_460_995_021_531)),
            },
            AccountSubscription {
                room: "quiet".into(),
                nick: "bob".into(),
                nodes: vec![],
                last: None,
            },
        ];
        let el = Element::from(subscription_list("conference.localhost", subs));
        let back = Subscriptions::try_from(&el).unwrap();
        let lab = &back.items[0];
        assert_eq!(
            lab.jid.as_ref().unwrap().as_str(),
            "lab@conference.localhost"
        );
        assert_eq!(lab.events, vec![Node::Messages]);
        let end = lab.end.as_ref().unwrap();
        assert_eq!(end.id, "1795460995021531");
        assert_eq!(end.stamp.to_xep0082(), "2026-11-23T19:09:55.021Z");
        assert_eq!(back.items[1].end, None);
    }

    #[test]
    fn disco_lists_public_rooms_with_their_titles() {
        let q = disco_items(
            "conference.localhost",
            vec![("a".into(), "Lab".into()), ("b".into(), String::new())],
        );
        let items: Vec<_> = q.children().collect();
        assert_eq!(items[0].attr("jid"), Some("a@conference.localhost"));
        assert_eq!(items[0].attr("name"), Some("Lab"));
        assert_eq!(items[1].attr("name"), None);
        let info = service_disco_info();
        assert!(info
            .children()
            .any(|f| f.attr("var") == Some(ns::MUCSUB_SYNC)));
    }
}
