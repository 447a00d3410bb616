//! MucSub event fanout (docs/protocol.md S10, S11): which subscribers get a room event, on
//! which node, with or without real JIDs. The wrapper itself is built by the room's task
//! ([`super::event::WrappedEvent`]).

use std::collections::BTreeMap;

use minidom::Element;

use super::room::{Action, Env, EventOut, Outcome, Recipient, Room};
use mucsub_protocol::Node;

impl Room {
    /// Every subscriber holding one of `nodes` gets the event, on the first of `nodes` it
    /// subscribed to, except on its resources joined to the room (docs/protocol.md S11:
    /// they get the plain stanza; its other resources keep the wrapped feed). `build` gives
    /// the inner stanza with (`true`) or without real JIDs, built at most twice.
    pub fn fanout(
        &self,
        out: &mut Outcome,
        nodes: &[Node],
        id: &str,
        build: impl Fn(bool) -> Element,
    ) {
        if self.subscribers.is_empty() {
            return;
        }
        // (node, sees_jid) → recipients
        let mut groups: BTreeMap<(Node, bool), Vec<Recipient>> = BTreeMap::new();
        for (j, s) in &self.subscribers {
            if let Some(node) = nodes.iter().find(|n| s.nodes.contains(n)) {
                groups
                    .entry((*node, self.account_sees_jids(j)))
                    .or_default()
                    .push(self.recipient(j));
            }
        }
        let mut by_node: BTreeMap<Node, Vec<(Element, Vec<Recipient>)>> = BTreeMap::new();
        for ((node, sees), rcpts) in groups {
            by_node.entry(node).or_default().push((build(sees), rcpts));
        }
        for (node, variants) in by_node {
            out.push(Action::Event(EventOut {
                node,
                id: id.to_owned(),
                variants,
            }));
        }
    }

    /// Sends one event to one account regardless of its node list (the removed
    /// subscriber's own `<unsubscribe/>`, a destroyed room's goodbye); its joined resources
    /// are left out as in [`Room::fanout`].
    pub(super) fn direct_event(
        &self,
        env: &Env,
        out: &mut Outcome,
        node: Node,
        inner: Element,
        to: &jid::BareJid,
    ) {
        out.push(Action::Event(EventOut {
            node,
            id: env.next_id(),
            variants: vec![(inner, vec![self.recipient(to)])],
        }));
    }
}
