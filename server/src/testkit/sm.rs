//! XEP-0198 on the raw client: enabling stream management, counting what arrives (the
//! client's `h`), answering or collecting the server's `<r/>`, and resuming on a new
//! connection (after RFC 6120 SASL, or inline in SASL2: `sasl2.rs`).

use super::client::{ClientSm, RawClient};
use super::login::Mech;
use crate::ns;
use minidom::Element;
use mucsub_protocol::sm::{Ack, Enabled, Failed, Resumed};
use std::net::SocketAddr;

/// The outcome of a `<resume/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumption {
    Resumed(Resumed),
    Failed(Failed),
}

impl RawClient {
    /// Handles stream-management elements as they arrive; true when `el` was consumed (an
    /// `<r/>`). Stanzas are counted once management is on.
    pub(super) async fn sm_incoming(&mut self, el: &Element) -> bool {
        let Some(sm) = &mut self.sm else {
            return false;
        };
        if el.is("r", ns::SM) {
            sm.requests += 1;
            if sm.auto_ack {
                let a = crate::stanza::to_xml(&Element::from(Ack { h: sm.h }));
                self.send(&a).await;
            }
            return true;
        }
        if el.ns() == ns::CLIENT && matches!(el.name(), "message" | "presence" | "iq") {
            sm.h = sm.h.wrapping_add(1);
        }
        false
    }

    /// Starts counting as XEP-0198 says, from `h` (0 after `<enabled/>`, the resumed
    /// stream's count after `<resumed/>`). Answers `<r/>` by itself when `auto_ack`.
    pub fn sm_start(&mut self, h: u32, auto_ack: bool) {
        self.sm = Some(ClientSm {
            h,
            auto_ack,
            requests: 0,
        });
    }

    /// Sends `<enable resume='true'/>` on a bound stream and returns the `<enabled/>`;
    /// counting starts. The server's `<r/>` is not answered (see [`RawClient::set_auto_ack`]).
    pub async fn enable_sm(&mut self) -> Enabled {
        self.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
            .await;
        let el = self
            .expect("<enabled/>", |e| e.ns() == ns::SM && e.name() != "r")
            .await;
        let enabled = Enabled::try_from(el.clone())
            .unwrap_or_else(|_| panic!("expected <enabled/>: {}", crate::stanza::to_xml(&el)));
        self.sm_start(0, false);
        enabled
    }

    /// Whether the client answers the server's `<r/>` by itself.
    pub fn set_auto_ack(&mut self, on: bool) {
        if let Some(sm) = &mut self.sm {
            sm.auto_ack = on;
        }
    }

    /// The client's `h`: stanzas received since management was enabled.
    pub fn sm_h(&self) -> u32 {
        self.sm.as_ref().map_or(0, |s| s.h)
    }

    /// `<r/>` requests the server sent.
    pub fn sm_requests(&self) -> usize {
        self.sm.as_ref().map_or(0, |s| s.requests)
    }

    /// Acknowledges everything received so far.
    pub async fn ack(&mut self) {
        let a = crate::stanza::to_xml(&Element::from(Ack { h: self.sm_h() }));
        self.send(&a).await;
    }

    /// Sends `<r/>` and returns the server's `h` (stanzas skipped meanwhile are counted).
    pub async fn request_ack(&mut self) -> u32 {
        self.send("<r xmlns='urn:xmpp:sm:3'/>").await;
        let a = self.expect("<a/>", |e| e.is("a", ns::SM)).await;
        Ack::try_from(a).expect("<a h/>").h
    }

    /// Connects over TCP, authenticates with SASL PLAIN and sends `<resume/>` instead of
    /// binding. On `<resumed/>` counting goes on from `h`.
    pub async fn resume_tcp(
        addr: SocketAddr,
        user: &str,
        password: &str,
        previd: &str,
        h: u32,
    ) -> (RawClient, Resumption) {
        let c = RawClient::connect_tcp(addr).await;
        c.authenticate_then_resume(user, password, previd, h).await
    }

    /// The same over WebSocket.
    pub async fn resume_ws(
        url: &str,
        user: &str,
        password: &str,
        previd: &str,
        h: u32,
    ) -> (RawClient, Resumption) {
        let c = RawClient::connect_ws(url).await;
        c.authenticate_then_resume(user, password, previd, h).await
    }

    async fn authenticate_then_resume(
        mut self,
        user: &str,
        password: &str,
        previd: &str,
        h: u32,
    ) -> (RawClient, Resumption) {
        self.open().await;
        self.read_features().await;
        self.authenticate(user, password, Mech::Plain)
            .await
            .expect("authenticated");
        self.open().await;
        let f = self.read_features().await;
        assert!(f.has_child("sm", ns::SM), "stream management is offered");
        let r = self.resume(previd, h).await;
        (self, r)
    }

    /// Sends `<resume previd h/>` on an authenticated stream.
    pub async fn resume(&mut self, previd: &str, h: u32) -> Resumption {
        self.send(&format!(
            "<resume xmlns='urn:xmpp:sm:3' previd='{}' h='{h}'/>",
            crate::stanza::escape_attr(previd)
        ))
        .await;
        let el = self
            .expect("<resumed/> or <failed/>", |e| {
                e.is("resumed", ns::SM) || e.is("failed", ns::SM)
            })
            .await;
        if el.name() == "resumed" {
            self.sm_start(h, false);
            Resumption::Resumed(Resumed::try_from(el).expect("<resumed/>"))
        } else {
            Resumption::Failed(Failed::try_from(el).expect("<failed/>"))
        }
    }
}
