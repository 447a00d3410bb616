//! Logging in with the raw client: STARTTLS, SASL (PLAIN, SCRAM-SHA-1/256 through the
//! `sasl` crate's client side) and resource binding.

use super::basics::TIMEOUT;
use super::client::{Conn, RawClient};
use crate::ns;
use base64::Engine;
use minidom::Element;
use std::net::SocketAddr;
use std::sync::Arc;

/// SASL mechanism a [`RawClient`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Plain,
    ScramSha1,
    ScramSha256,
}

impl RawClient {
    /// Upgrades a TCP connection with STARTTLS, trusting `ca_pem` for `localhost`.
    pub async fn starttls(&mut self, ca_pem: &[u8]) {
        use tokio_rustls::rustls;
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await;
        let el = self.recv().await;
        assert!(el.is("proceed", ns::TLS), "expected proceed: {el:?}");
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &ca_pem[..]) {
            roots.add(c.expect("pem")).expect("add root");
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let Conn::Tcp(s) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            panic!("STARTTLS needs a plain TCP connection");
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, s))
            .await
            .expect("tls timeout")
            .expect("tls handshake");
        self.conn = Conn::Tls(Box::new(tls));
        self.open().await;
    }

    /// Runs SASL; returns `Ok(())` on success or `Err(condition)` on `<failure/>`.
    pub async fn authenticate(
        &mut self,
        user: &str,
        password: &str,
        mech: Mech,
    ) -> Result<(), String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        match mech {
            Mech::Plain => {
                let payload = b64.encode(format!("\0{user}\0{password}"));
                self.send(&format!(
                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"
                ))
                .await;
                let el = self.recv().await;
                sasl_outcome(&el)
            }
            Mech::ScramSha1 | Mech::ScramSha256 => {
                use sasl::client::Mechanism;
                let creds = sasl::common::Credentials::default()
                    .with_username(user)
                    .with_password(password)
                    .with_channel_binding(sasl::common::ChannelBinding::None);
                let (name, mut m): (&str, Box<dyn Mechanism>) = if mech == Mech::ScramSha1 {
                    (
                        "SCRAM-SHA-1",
                        Box::new(
                            sasl::client::mechanisms::Scram::<sasl::common::scram::Sha1>::from_credentials(creds)
                                .expect("scram"),
                        ),
                    )
                } else {
                    (
                        "SCRAM-SHA-256",
                        Box::new(
                            sasl::client::mechanisms::Scram::<sasl::common::scram::Sha256>::from_credentials(creds)
                                .expect("scram"),
                        ),
                    )
                };
                let first = b64.encode(m.initial());
                self.send(&format!(
                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{name}'>{first}</auth>"
                ))
                .await;
                let el = self.recv().await;
                if !el.is("challenge", ns::SASL) {
                    return sasl_outcome(&el);
                }
                let ch = b64.decode(el.text().trim()).expect("challenge base64");
                let resp = m.response(&ch).expect("client response");
                self.send(&format!(
                    "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
                    b64.encode(resp)
                ))
                .await;
                let el = self.recv().await;
                sasl_outcome(&el)?;
                let data = b64.decode(el.text().trim()).expect("success base64");
                m.success(&data)
                    .map_err(|e| format!("server signature rejected: {e}"))
            }
        }
    }

    /// Binds `resource` (or lets the server pick); returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let res = resource
            .map(|r| format!("<resource>{}</resource>", crate::stanza::escape_attr(r)))
            .unwrap_or_default();
        let reply = self
            .iq(&format!(
                "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{res}</bind></iq>"
            ))
            .await;
        assert_eq!(reply.attr("type"), Some("result"), "bind failed: {reply:?}");
        let jid = reply
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(|j| j.text())
            .expect("bound jid");
        self.jid = jid.clone();
        jid
    }

    /// Connects over TCP, optionally STARTTLS (`tls_ca` = the server's certificate PEM),
    /// authenticates and binds. No presence is sent.
    pub async fn login_tcp(
        addr: SocketAddr,
        user: &str,
        password: &str,
        mech: Mech,
        tls_ca: Option<&[u8]>,
        resource: Option<&str>,
    ) -> Result<RawClient, String> {
        let mut c = RawClient::connect_tcp(addr).await;
        c.open().await;
        let f = c.read_features().await;
        if let Some(ca) = tls_ca {
            assert!(f.has_child("starttls", ns::TLS), "STARTTLS offered");
            c.starttls(ca).await;
            c.read_features().await;
        }
        c.authenticate_and_bind(user, password, mech, resource)
            .await?;
        Ok(c)
    }

    /// Connects over WebSocket, authenticates and binds. No presence is sent.
    pub async fn login_ws(
        url: &str,
        user: &str,
        password: &str,
        mech: Mech,
        resource: Option<&str>,
    ) -> Result<RawClient, String> {
        let mut c = RawClient::connect_ws(url).await;
        c.open().await;
        c.read_features().await;
        c.authenticate_and_bind(user, password, mech, resource)
            .await?;
        Ok(c)
    }

    /// From the first stream's features to a bound resource: SASL, the restarted stream,
    /// binding.
    async fn authenticate_and_bind(
        &mut self,
        user: &str,
        password: &str,
        mech: Mech,
        resource: Option<&str>,
    ) -> Result<(), String> {
        self.authenticate(user, password, mech).await?;
        self.open().await;
        self.read_features().await;
        self.bind(resource).await;
        Ok(())
    }
}

fn sasl_outcome(el: &Element) -> Result<(), String> {
    if el.is("success", ns::SASL) {
        Ok(())
    } else if el.is("failure", ns::SASL) {
        Err(el
            .children()
            .next()
            .map(|c| c.name().to_owned())
            .unwrap_or_default())
    } else {
        panic!("unexpected SASL reply: {}", crate::stanza::to_xml(el))
    }
}
