//! What modules add to the core, once they have started: the server domain's disco#info
//! features and disco#items, the IQ handlers by payload (type, element name, namespace),
//! and typed handles to the modules' own state. The core asks here instead of naming any
//! module; modules register through the registrar of `module.rs` at startup, and
//! [`crate::ServerContext::extensions`] returns the result.
//!
//! Prosody's `module:add_feature`, `module:hook("iq-set/host/<ns>:<name>")` and
//! `module:provides` are the model; this is the small subset the server needs so far.

use futures_util::future::BoxFuture;
use minidom::Element;
use std::any::Any;
use std::sync::Arc;

/// The IQ types a module can answer (results and errors are never dispatched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    Get,
    Set,
}

impl IqType {
    /// `get` / `set`; `None` for anything else.
    pub fn parse(s: &str) -> Option<IqType> {
        match s {
            "get" => Some(IqType::Get),
            "set" => Some(IqType::Set),
            _ => None,
        }
    }
}

/// Who sent an IQ a module answers: a bound client session of this server.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The account's localpart.
    pub user: &'a str,
    /// The session's full JID.
    pub jid: &'a str,
}

/// Answers IQs a bound session addresses to the server domain or to its own account.
pub trait IqHandler: Send + Sync {
    /// The complete reply (result or error) to `iq`, written to the session as it is.
    fn handle<'a>(&'a self, from: Caller<'a>, iq: &'a Element) -> BoxFuture<'a, Element>;
}

/// Told when a session becomes available (its first available presence, after its
/// offline messages): what to send that session (PEP's last items, XEP-0163 §6.1).
pub trait AvailableHook: Send + Sync {
    /// Stanzas for the session `from`, with their `to` set to it.
    fn on_available<'a>(&'a self, from: Caller<'a>) -> BoxFuture<'a, Vec<Element>>;
}

/// An entry of the server domain's disco#items (XEP-0030), such as the MUC service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoItem {
    pub jid: String,
    pub name: String,
}

/// The registered IQ payload an [`IqHandler`] answers.
struct IqRoute {
    ty: IqType,
    name: String,
    ns: String,
    handler: Arc<dyn IqHandler>,
}

/// Everything the started modules registered.
#[derive(Default)]
pub struct Extensions {
    features: Vec<String>,
    account_features: Vec<String>,
    account_identities: Vec<(String, String)>,
    available: Vec<Arc<dyn AvailableHook>>,
    items: Vec<DiscoItem>,
    iqs: Vec<IqRoute>,
    provided: Vec<Arc<dyn Any + Send + Sync>>,
}

/// What a context holds before the modules have started.
pub(crate) static NONE: Extensions = Extensions {
    features: Vec::new(),
    account_features: Vec::new(),
    account_identities: Vec::new(),
    available: Vec::new(),
    items: Vec::new(),
    iqs: Vec::new(),
    provided: Vec::new(),
};

impl Extensions {
    /// Features the server domain advertises in disco#info, in registration order.
    pub fn server_features(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(String::as_str)
    }

    /// Features an account's bare JID advertises in disco#info (XEP-0163 §8).
    pub fn account_features(&self) -> impl Iterator<Item = &str> {
        self.account_features.iter().map(String::as_str)
    }

    /// Identities (category, type) an account's bare JID advertises besides
    /// `account/registered` (`pubsub/pep`, XEP-0163 §8).
    pub fn account_identities(&self) -> &[(String, String)] {
        &self.account_identities
    }

    /// What to tell a session that becomes available.
    pub fn available_hooks(&self) -> &[Arc<dyn AvailableHook>] {
        &self.available
    }

    /// Items of the server domain's disco#items.
    pub fn disco_items(&self) -> &[DiscoItem] {
        &self.items
    }

    /// The handler for an IQ of type `ty` whose payload is `<name xmlns='ns'/>`.
    pub fn iq_handler(&self, ty: IqType, name: &str, ns: &str) -> Option<&dyn IqHandler> {
        self.iqs
            .iter()
            .find(|r| r.ty == ty && r.name == name && r.ns == ns)
            .map(|r| r.handler.as_ref())
    }

    /// The state a module provided (for example its handle, for tests and for other
    /// modules that build on it).
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.provided.iter().find_map(|p| p.downcast_ref::<T>())
    }

    pub(crate) fn add_feature(&mut self, var: &str) {
        if !self.features.iter().any(|f| f == var) {
            self.features.push(var.to_owned());
        }
    }

    pub(crate) fn add_account_feature(&mut self, var: &str) {
        if !self.account_features.iter().any(|f| f == var) {
            self.account_features.push(var.to_owned());
        }
    }

    pub(crate) fn add_account_identity(&mut self, category: &str, kind: &str) {
        self.account_identities
            .push((category.to_owned(), kind.to_owned()));
    }

    pub(crate) fn add_available_hook(&mut self, hook: Arc<dyn AvailableHook>) {
        self.available.push(hook);
    }

    pub(crate) fn add_item(&mut self, item: DiscoItem) {
        self.items.push(item);
    }

    /// Fails when another module answers the same payload already.
    pub(crate) fn add_iq(
        &mut self,
        ty: IqType,
        name: &str,
        ns: &str,
        handler: Arc<dyn IqHandler>,
    ) -> Result<(), String> {
        if self.iq_handler(ty, name, ns).is_some() {
            return Err(format!("{ty:?} <{name} xmlns='{ns}'/> is registered twice"));
        }
        self.iqs.push(IqRoute {
            ty,
            name: name.to_owned(),
            ns: ns.to_owned(),
            handler,
        });
        Ok(())
    }

    pub(crate) fn provide(&mut self, value: Arc<dyn Any + Send + Sync>) {
        self.provided.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(&'static str);

    impl IqHandler for Echo {
        fn handle<'a>(&'a self, from: Caller<'a>, _iq: &'a Element) -> BoxFuture<'a, Element> {
            let reply = Element::builder("echo", "urn:test")
                .attr(rxml::NcName::try_from("who").unwrap(), from.user)
                .append(self.0)
                .build();
            Box::pin(async move { reply })
        }
    }

    #[tokio::test]
    async fn iq_handlers_are_found_by_type_name_and_namespace_once() {
        let mut ext = Extensions::default();
        ext.add_iq(IqType::Set, "enable", "urn:test", Arc::new(Echo("on")))
            .unwrap();
        ext.add_iq(IqType::Set, "disable", "urn:test", Arc::new(Echo("off")))
            .unwrap();
        assert!(ext
            .add_iq(IqType::Set, "enable", "urn:test", Arc::new(Echo("again")))
            .is_err());

        let iq = Element::builder("iq", "jabber:client").build();
        let from = Caller {
            user: "alice",
            jid: "alice@localhost/r",
        };
        let h = ext.iq_handler(IqType::Set, "disable", "urn:test").unwrap();
        let reply = h.handle(from, &iq).await;
        assert_eq!(reply.text(), "off");
        assert_eq!(reply.attr("who"), Some("alice"));
        assert!(ext.iq_handler(IqType::Get, "enable", "urn:test").is_none());
        assert!(ext.iq_handler(IqType::Set, "enable", "urn:other").is_none());
        assert!(NONE.iq_handler(IqType::Set, "enable", "urn:test").is_none());
    }

    #[test]
    fn features_keep_their_order_and_provided_state_is_found_by_type() {
        let mut ext = Extensions::default();
        ext.add_feature("urn:b");
        ext.add_feature("urn:a");
        ext.add_feature("urn:b");
        assert_eq!(
            ext.server_features().collect::<Vec<_>>(),
            ["urn:b", "urn:a"]
        );
        ext.provide(Arc::new(42u32));
        ext.provide(Arc::new(String::from("state")));
        assert_eq!(ext.get::<u32>(), Some(&42));
        assert_eq!(ext.get::<String>().map(String::as_str), Some("state"));
        assert!(ext.get::<u64>().is_none());
    }
}
