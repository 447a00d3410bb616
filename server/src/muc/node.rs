//! MucSub event nodes: the SDK's [`mucsub::protocol::Node`], with what the room side adds
//! (which events are worth storing offline, and the lossy list parse of SPEC S3).

pub use mucsub::protocol::Node;

/// Room-side facts about a node.
pub trait NodeExt {
    /// The full node name (`urn:xmpp:mucsub:nodes:messages`).
    fn uri(self) -> &'static str;
    /// Only message-like events are kept for an offline account (SPEC S15).
    fn storable(self) -> bool;
}

impl NodeExt for Node {
    fn uri(self) -> &'static str {
        self.as_str()
    }

    fn storable(self) -> bool {
        matches!(self, Node::Messages | Node::Subject)
    }
}

/// Parses node names, dropping unknown ones and duplicates, keeping the request's order.
pub fn parse_list<'a>(uris: impl IntoIterator<Item = &'a str>) -> Vec<Node> {
    let mut out = Vec::new();
    for u in uris {
        if let Some(n) = Node::parse(u) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_nodes_are_dropped_and_duplicates_merged() {
        let l = parse_list([
            "urn:xmpp:mucsub:nodes:messages",
            "urn:xmpp:mucsub:nodes:presences",
            "urn:xmpp:mucsub:nodes:messages",
            "urn:xmpp:mucsub:nodes:system",
        ]);
        assert_eq!(l, vec![Node::Messages, Node::System]);
        assert_eq!(Node::Presence.uri(), "urn:xmpp:mucsub:nodes:presence");
        assert!(Node::Subject.storable() && !Node::Presence.storable());
    }
}
