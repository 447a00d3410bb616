//! XEP-0357 `enable` / `disable` IQs and the registrations they store, per account and
//! device (one `node` per device), on the core's SQLite database (component "push").

use crate::stanza::Refusal;
use crate::storage::Db;
use minidom::Element;
use mucsub_protocol::ns;
use mucsub_protocol::push::{Enable, PushDisable};
use rusqlite::OptionalExtension;

const MIGRATIONS: &[&str] = &["CREATE TABLE push_registrations(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        service TEXT NOT NULL,
        node TEXT NOT NULL,
        options TEXT NOT NULL,
        include_body INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY(username, service, node)
    );
    CREATE TABLE push_vapid(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        private_key BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    );"];

/// Registrations kept per account; enabling one more drops the oldest (browsers rotate
/// subscriptions and a device that is gone never disables its own).
pub const MAX_PER_ACCOUNT: usize = 16;
const MAX_NODE: usize = 256;
const MAX_FIELDS: usize = 16;
const MAX_VALUE: usize = 2048;
pub use mucsub_protocol::push::FIELD_INCLUDE_BODY;

/// One device's registration: where to publish (service JID and node) and the
/// publish-options to send with each notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub user: String,
    pub service: String,
    pub node: String,
    /// Publish-options fields other than FORM_TYPE and `include-body`, in request order.
    pub options: Vec<(String, String)>,
    pub include_body: bool,
}

impl Registration {
    pub fn option(&self, var: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed `enable` or `disable` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Enable(Enable),
    Disable(PushDisable),
}

/// The push payload of an IQ, if it is one (`<enable/>` or `<disable/>` in `urn:xmpp:push:0`).
pub fn payload(iq: &Element) -> Option<&Element> {
    iq.children()
        .find(|c| c.ns() == ns::PUSH && (c.name() == "enable" || c.name() == "disable"))
}

fn checked_node(node: &str) -> Result<(), Refusal> {
    if node.len() > MAX_NODE {
        return Err(Refusal::bad_request(format!(
            "'node' must be 1 to {MAX_NODE} bytes"
        )));
    }
    Ok(())
}

/// This server's limits on a registration: node length, field count and sizes.
fn within_limits(e: &Enable) -> Result<(), Refusal> {
    checked_node(&e.node)?;
    // FORM_TYPE and include-body count as fields too.
    if e.options.len() + 2 > MAX_FIELDS {
        return Err(Refusal::bad_request(format!(
            "at most {MAX_FIELDS} publish-options fields"
        )));
    }
    for (var, value) in &e.options {
        if value.len() > MAX_VALUE || var.len() > MAX_NODE {
            return Err(Refusal::bad_request(format!(
                "field {var:?} is longer than {MAX_VALUE} bytes"
            )));
        }
    }
    Ok(())
}

/// Parses an IQ `set` carrying `<enable/>` or `<disable/>`.
pub fn parse(iq: &Element) -> Result<Command, Refusal> {
    let p = payload(iq).ok_or_else(|| Refusal::bad_request("no push payload"))?;
    if iq.attr("type") != Some("set") {
        return Err(Refusal::bad_request(
            "push enable/disable must be an IQ set",
        ));
    }
    let bad = |e: mucsub_protocol::ParseError| Refusal::bad_request(e.to_string());
    if p.name() == "disable" {
        let d = PushDisable::try_from(p).map_err(bad)?;
        if let Some(node) = &d.node {
            checked_node(node)?;
        }
        return Ok(Command::Disable(d));
    }
    let e = Enable::try_from(p).map_err(bad)?;
    within_limits(&e)?;
    Ok(Command::Enable(e))
}

/// The registrations `rest` (a `WHERE` and `ORDER BY` clause) selects.
fn select(
    c: &rusqlite::Connection,
    rest: &str,
    params: impl rusqlite::Params,
) -> anyhow::Result<Vec<Registration>> {
    let mut st = c.prepare(&format!(
        "SELECT username, service, node, options, include_body FROM push_registrations {rest}"
    ))?;
    let rows = st.query_map(params, |r| {
        Ok((
            Registration {
                user: r.get(0)?,
                service: r.get(1)?,
                node: r.get(2)?,
                options: Vec::new(),
                include_body: r.get(4)?,
            },
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut reg, options) = row?;
        reg.options = serde_json::from_str(&options)?;
        out.push(reg);
    }
    Ok(out)
}

/// The registrations and the VAPID key on SQLite.
#[derive(Clone)]
pub struct PushStore {
    db: Db,
}

impl PushStore {
    /// Runs the "push" migrations (after the core's "accounts" ones: registrations are
    /// deleted with their account).
    pub async fn new(db: Db) -> anyhow::Result<Self> {
        db.migrate("push", MIGRATIONS).await?;
        Ok(PushStore { db })
    }

    /// Stores (or replaces, same service and node) a registration, durably.
    pub async fn enable(&self, reg: Registration) -> anyhow::Result<()> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO push_registrations
                        (username, service, node, options, include_body, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(username, service, node) DO UPDATE SET
                        options = excluded.options, include_body = excluded.include_body,
                        created_ms = excluded.created_ms",
                    rusqlite::params![
                        reg.user,
                        reg.service,
                        reg.node,
                        serde_json::to_string(&reg.options)?,
                        reg.include_body,
                        crate::time::now_millis(),
                    ],
                )?;
                tx.execute(
                    "DELETE FROM push_registrations WHERE username = ?1 AND rowid NOT IN
                        (SELECT rowid FROM push_registrations WHERE username = ?1
                         ORDER BY created_ms DESC, rowid DESC LIMIT ?2)",
                    rusqlite::params![reg.user, MAX_PER_ACCOUNT as i64],
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Removes the account's registrations with that service (one node, or all); returns
    /// how many were removed.
    pub async fn disable(
        &self,
        user: &str,
        service: &str,
        node: Option<&str>,
    ) -> anyhow::Result<usize> {
        let (user, service, node) = (user.to_owned(), service.to_owned(), node.map(String::from));
        self.db
            .call(move |c| {
                let n = match node {
                    Some(node) => c.execute(
                        "DELETE FROM push_registrations
                         WHERE username = ?1 AND service = ?2 AND node = ?3",
                        rusqlite::params![user, service, node],
                    )?,
                    None => c.execute(
                        "DELETE FROM push_registrations WHERE username = ?1 AND service = ?2",
                        rusqlite::params![user, service],
                    )?,
                };
                Ok(n)
            })
            .await
    }

    /// Every registration of every account (loaded once at start).
    pub async fn all(&self) -> anyhow::Result<Vec<Registration>> {
        self.db
            .call(|c| {
                select(
                    c,
                    "ORDER BY username, created_ms, rowid",
                    rusqlite::params![],
                )
            })
            .await
    }

    /// The account's registrations, oldest first.
    pub async fn registrations(&self, user: &str) -> anyhow::Result<Vec<Registration>> {
        let user = user.to_owned();
        self.db
            .call(move |c| select(c, "WHERE username = ?1 ORDER BY created_ms, rowid", [user]))
            .await
    }

    /// The VAPID private key, generated and stored on first use so that browser
    /// subscriptions made against it stay valid across restarts.
    pub async fn vapid_private_key(&self) -> anyhow::Result<Vec<u8>> {
        self.db
            .call(|c| {
                let tx = c.transaction()?;
                let existing: Option<Vec<u8>> = tx
                    .query_row("SELECT private_key FROM push_vapid WHERE id = 1", [], |r| {
                        r.get(0)
                    })
                    .optional()?;
                let key = match existing {
                    Some(k) => k,
                    None => {
                        let k = super::webpush::VapidKey::generate().private_bytes();
                        tx.execute(
                            "INSERT INTO push_vapid(id, private_key, created_ms) VALUES (1, ?1, ?2)",
                            rusqlite::params![k, crate::time::now_millis()],
                        )?;
                        k
                    }
                };
                tx.commit()?;
                Ok(key)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AccountStore, Credentials, SqliteAccounts};

    fn iq(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn parses_enable_with_publish_options() {
        let cmd = parse(&iq("<iq xmlns='jabber:client' type='set' id='1'>
            <enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='dev1'>
              <x xmlns='jabber:x:data' type='submit'>
                <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
                <field var='endpoint'><value>https://push.example/abc</value></field>
                <field var='include-body'><value>true</value></field>
              </x></enable></iq>"))
        .unwrap();
        assert_eq!(
            cmd,
            Command::Enable(Enable {
                jid: "push.localhost".into(),
                node: "dev1".into(),
                options: vec![("endpoint".into(), "https://push.example/abc".into())],
                include_body: true,
            })
        );
    }

    #[test]
    fn parses_disable_with_and_without_node() {
        let all = parse(&iq("<iq xmlns='jabber:client' type='set' id='1'>
            <disable xmlns='urn:xmpp:push:0' jid='push.localhost'/></iq>"))
        .unwrap();
        assert_eq!(
            all,
            Command::Disable(PushDisable {
                service: "push.localhost".into(),
                node: None
            })
        );
        let one = parse(&iq("<iq xmlns='jabber:client' type='set' id='1'>
            <disable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'/></iq>"))
        .unwrap();
        assert!(matches!(one, Command::Disable(PushDisable { node: Some(n), .. }) if n == "n"));
    }

    #[test]
    fn refuses_malformed_requests() {
        let long_node = format!(
            "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='{}'/>",
            "n".repeat(MAX_NODE + 1)
        );
        for (xml, needle) in [
            ("<enable xmlns='urn:xmpp:push:0' node='n'/>", "'jid'"),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost'/>",
                "'node'",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='a@@b' node='n'/>",
                "not a valid JID",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node=''/>",
                "'node'",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'>\
                 <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>other</value></field></x>\
                 </enable>",
                "FORM_TYPE",
            ),
            (
                "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'>\
                 <x xmlns='jabber:x:data'><field var='endpoint'><value>e</value></field></x>\
                 </enable>",
                "<x/>",
            ),
            (long_node.as_str(), "'node'"),
        ] {
            let r = parse(&iq(&format!(
                "<iq xmlns='jabber:client' type='set' id='1'>{xml}</iq>"
            )))
            .unwrap_err();
            assert_eq!(r.condition, "bad-request");
            assert!(r.text.contains(needle), "{} lacks {needle}", r.text);
        }
        let get = parse(&iq("<iq xmlns='jabber:client' type='get' id='1'>
            <disable xmlns='urn:xmpp:push:0' jid='push.localhost'/></iq>"));
        assert!(get.is_err());
    }

    async fn store_with(users: &[&str]) -> PushStore {
        let db = Db::open_in_memory().unwrap();
        let accounts = SqliteAccounts::new(db.clone()).await.unwrap();
        for u in users {
            let creds = Credentials::derive_with("pw", b"salt", 1).unwrap();
            accounts.create(u, creds).await.unwrap();
        }
        PushStore::new(db).await.unwrap()
    }

    fn reg(user: &str, node: &str) -> Registration {
        Registration {
            user: user.into(),
            service: "push.localhost".into(),
            node: node.into(),
            options: vec![("endpoint".into(), format!("https://p.example/{node}"))],
            include_body: false,
        }
    }

    #[tokio::test]
    async fn enable_replaces_same_node_and_disable_removes() {
        let s = store_with(&["bob"]).await;
        s.enable(reg("bob", "a")).await.unwrap();
        let mut again = reg("bob", "a");
        again.include_body = true;
        s.enable(again.clone()).await.unwrap();
        s.enable(reg("bob", "b")).await.unwrap();
        let regs = s.registrations("bob").await.unwrap();
        assert_eq!(regs.len(), 2);
        assert!(regs.contains(&again));
        assert_eq!(
            s.disable("bob", "push.localhost", Some("a")).await.unwrap(),
            1
        );
        assert_eq!(s.registrations("bob").await.unwrap(), vec![reg("bob", "b")]);
        assert_eq!(s.disable("bob", "push.localhost", None).await.unwrap(), 1);
        assert!(s.registrations("bob").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn oldest_registration_is_dropped_past_the_cap() {
        let s = store_with(&["bob"]).await;
        for i in 0..=MAX_PER_ACCOUNT {
            s.enable(reg("bob", &format!("n{i:02}"))).await.unwrap();
        }
        let regs = s.registrations("bob").await.unwrap();
        assert_eq!(regs.len(), MAX_PER_ACCOUNT);
        assert!(regs.iter().all(|r| r.node != "n00"));
    }

    #[tokio::test]
    async fn registrations_go_with_the_account() {
        let db = Db::open_in_memory().unwrap();
        let accounts = SqliteAccounts::new(db.clone()).await.unwrap();
        let creds = Credentials::derive_with("pw", b"salt", 1).unwrap();
        accounts.create("bob", creds).await.unwrap();
        let s = PushStore::new(db).await.unwrap();
        s.enable(reg("bob", "a")).await.unwrap();
        accounts.remove("bob").await.unwrap();
        assert!(s.registrations("bob").await.unwrap().is_empty());
        // No account, no registration.
        assert!(s.enable(reg("nobody", "a")).await.is_err());
    }

    #[tokio::test]
    async fn vapid_key_is_generated_once() {
        let s = store_with(&[]).await;
        let a = s.vapid_private_key().await.unwrap();
        let b = s.vapid_private_key().await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
    }
}
