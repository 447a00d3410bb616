//! XML namespaces: the one list of `mucsub_protocol::ns`, shared with the SDK.

pub use mucsub_protocol::ns::*;
