use std::fmt;

use serde::{Deserialize, Serialize};

use super::ns;

/// A MucSub event node (`urn:xmpp:mucsub:nodes:X`).
///
/// `presence` is singular: the seed document's `presences` is a typo (docs/protocol.md,
/// Namespaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    /// Occupant presence and nick changes.
    Presence,
    /// Groupchat messages with a body.
    Messages,
    /// Role/affiliation changes, kicks, bans.
    Affiliations,
    /// Subject changes.
    Subject,
    /// Configuration status codes and room destruction.
    Config,
    /// Subscribe / unsubscribe notifications.
    Subscribers,
    /// Joins and leaves.
    Participants,
    /// Service-level notices.
    System,
}

impl Node {
    /// Every node, in the order ejabberd lists them.
    pub const ALL: [Node; 8] = [
        Node::Messages,
        Node::Presence,
        Node::Affiliations,
        Node::Subject,
        Node::Config,
        Node::Subscribers,
        Node::Participants,
        Node::System,
    ];

    /// The full node name.
    pub fn as_str(self) -> &'static str {
        match self {
            Node::Presence => "urn:xmpp:mucsub:nodes:presence",
            Node::Messages => "urn:xmpp:mucsub:nodes:messages",
            Node::Affiliations => "urn:xmpp:mucsub:nodes:affiliations",
            Node::Subject => "urn:xmpp:mucsub:nodes:subject",
            Node::Config => "urn:xmpp:mucsub:nodes:config",
            Node::Subscribers => "urn:xmpp:mucsub:nodes:subscribers",
            Node::Participants => "urn:xmpp:mucsub:nodes:participants",
            Node::System => "urn:xmpp:mucsub:nodes:system",
        }
    }

    /// The short name (`messages`, `presence`, …).
    pub fn short(self) -> &'static str {
        &self.as_str()[ns::MUCSUB_NODES_PREFIX.len()..]
    }

    /// Whether an event on this node is kept for an account with no session to take it
    /// (offline storage, and a copy salvaged from a session that ended): only the
    /// message-like ones, `messages` and `subject` (docs/protocol.md S15).
    pub fn kept_offline(self) -> bool {
        matches!(self, Node::Messages | Node::Subject)
    }

    /// Parse a full node name; `None` for anything unknown (callers drop those silently).
    pub fn parse(s: &str) -> Option<Node> {
        let short = s.strip_prefix(ns::MUCSUB_NODES_PREFIX)?;
        Node::from_short(short)
    }

    /// Parse a short node name (`messages`).
    pub fn from_short(s: &str) -> Option<Node> {
        Node::ALL.into_iter().find(|n| n.short() == s)
    }

    /// Parse full node names, dropping unknown ones and duplicates and keeping the order
    /// (docs/protocol.md S3: a subscription keeps the nodes it could understand).
    pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Node> {
        let mut out = Vec::new();
        for node in names.into_iter().filter_map(Node::parse) {
            if !out.contains(&node) {
                out.push(node);
            }
        }
        out
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parse `<event node=…/>` children, dropping unknown nodes and duplicates (docs/protocol.md S3).
pub(crate) fn parse_event_children(elem: &minidom::Element) -> Vec<Node> {
    Node::parse_list(
        elem.children()
            .filter(|c| c.is("event", ns::MUCSUB))
            .filter_map(|c| c.attr("node")),
    )
}

/// Build `<event node=…/>` children.
pub(crate) fn event_children(nodes: &[Node]) -> Vec<minidom::Element> {
    nodes
        .iter()
        .map(|n| {
            super::xml::builder("event", ns::MUCSUB)
                .attr(super::xml::ncname("node"), n.as_str())
                .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_message_like_nodes_are_kept_offline() {
        let kept: Vec<Node> = Node::ALL.into_iter().filter(|n| n.kept_offline()).collect();
        assert_eq!(kept, vec![Node::Messages, Node::Subject]);
    }

    #[test]
    fn round_trips_every_node() {
        for n in Node::ALL {
            assert_eq!(Node::parse(n.as_str()), Some(n));
            assert_eq!(Node::from_short(n.short()), Some(n));
        }
    }

    #[test]
    fn rejects_unknown_and_plural_presence() {
        assert_eq!(Node::parse("urn:xmpp:mucsub:nodes:presences"), None);
        assert_eq!(Node::parse("urn:xmpp:mucsub:nodes:"), None);
        assert_eq!(Node::parse("messages"), None);
    }

    #[test]
    fn lists_drop_unknown_nodes_and_merge_duplicates() {
        let l = Node::parse_list([
            "urn:xmpp:mucsub:nodes:messages",
            "urn:xmpp:mucsub:nodes:presences",
            "urn:xmpp:mucsub:nodes:messages",
            "urn:xmpp:mucsub:nodes:system",
        ]);
        assert_eq!(l, vec![Node::Messages, Node::System]);
    }

    #[test]
    fn event_children_drop_unknown_and_duplicates() {
        let e: minidom::Element = "<subscribe xmlns='urn:xmpp:mucsub:0'>\
            <event node='urn:xmpp:mucsub:nodes:messages'/>\
            <event node='urn:xmpp:mucsub:nodes:bogus'/>\
            <event/>\
            <event node='urn:xmpp:mucsub:nodes:messages'/>\
            <event node='urn:xmpp:mucsub:nodes:system'/></subscribe>"
            .parse()
            .unwrap();
        assert_eq!(parse_event_children(&e), vec![Node::Messages, Node::System]);
    }
}
