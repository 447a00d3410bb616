//! MucSub event nodes: [`mucsub_protocol::Node`], with what the room side adds: which
//! events are worth storing for an offline account (SPEC S15).

pub use mucsub_protocol::Node;

/// Room-side facts about a node.
pub trait NodeExt {
    /// Only message-like events are kept for an offline account (SPEC S15).
    fn storable(self) -> bool;
}

impl NodeExt for Node {
    fn storable(self) -> bool {
        matches!(self, Node::Messages | Node::Subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_message_like_nodes_are_stored_offline() {
        let stored: Vec<Node> = Node::ALL.into_iter().filter(|n| n.storable()).collect();
        assert_eq!(stored, vec![Node::Messages, Node::Subject]);
    }
}
