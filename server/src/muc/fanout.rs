//! MucSub event fanout (docs/protocol.md S10, S11): which subscribers get a room event, on
//! which node, with or without real JIDs. The wrapper itself is built by the room's task
//! ([`super::event::WrappedEvent`]).

use std::collections::{BTreeMap, HashSet};

use jid::BareJid;
use minidom::Element;

use super::room::{Action, Env, EventOut, Outcome, Room};
use mucsub_protocol::Node;

impl Room {
    /// Subscribers that get wrapped events: not joined with any resource (docs/protocol.md S11).
    /// For each, the first of `nodes` it subscribed to decides the event's node; `build`
    /// gives the inner stanza with (`true`) or without real JIDs, built at most twice.
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
        let joined: HashSet<BareJid> = self.occupants.iter().map(|o| o.jid.to_bare()).collect();
        // (node, sees_jid) → recipients
        let mut groups: BTreeMap<(Node, bool), Vec<BareJid>> = BTreeMap::new();
        for (j, s) in &self.subscribers {
            if joined.contains(j) {
                continue;
            }
            if let Some(node) = nodes.iter().find(|n| s.nodes.contains(n)) {
                groups
                    .entry((*node, self.account_sees_jids(j)))
                    .or_default()
                    .push(j.clone());
            }
        }
        let mut by_node: BTreeMap<Node, Vec<(Element, Vec<BareJid>)>> = BTreeMap::new();
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
    /// subscriber's own `<unsubscribe/>`, a destroyed room's goodbye).
    pub(super) fn direct_event(
        env: &Env,
        out: &mut Outcome,
        node: Node,
        inner: Element,
        to: BareJid,
    ) {
        out.push(Action::Event(EventOut {
            node,
            id: env.next_id(),
            variants: vec![(inner, vec![to])],
        }));
    }
}
