//! TOML configuration. Every field has a default so the server runs with no file at all,
//! on loopback, with a data directory `./data`. Every key is listed, with its default, in
//! `docs/configuration.md` (`tests/config_docs.rs`, over `builtin::config_defaults`, fails
//! when one is missing there);
//! `server/mucsub.example.toml` is a commented example.

mod listen;

pub use listen::ListenAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The XMPP domain served (`localhost` by default).
    pub domain: String,
    /// The MUC service domain; `conference.<domain>` when empty.
    pub muc_service: String,
    /// Where the SQLite database (and a generated development certificate) live.
    pub data_dir: PathBuf,
    pub listeners: Listeners,
    pub tls: Tls,
    pub limits: Limits,
    /// XEP-0077 in-band registration. Off by default: accounts come from the CLI.
    pub registration: bool,
    pub http: Http,
    /// XEP-0198 stream management and resumption (`[stream_management]`).
    pub stream_management: StreamManagement,
    /// XEP-0484 FAST tokens (`[fast]`).
    pub fast: Fast,
    /// Which sign-ins are accepted (`[auth]`), and the app's tokens (`[auth.jwt]`).
    pub auth: crate::auth::settings::AuthConfig,
    /// Settings owned by the MUC service, parsed by it (`[muc]` table).
    pub muc: toml::Table,
    /// Settings owned by push (`[push]` table).
    pub push: toml::Table,
    /// Settings owned by the metrics module (`[metrics]` table).
    pub metrics: toml::Table,
    /// Several nodes sharing PostgreSQL (`[cluster]` table); absent: one node on SQLite.
    pub cluster: Cluster,
    /// Settings owned by the HTTP API (`[api]` table: tokens, loopback access).
    pub api: toml::Table,
    /// The file this configuration was read from, for error messages (not a key).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// `[cluster]`: where durable state lives when it is not the embedded SQLite file, and
/// (for several nodes) who this node is and how nodes reach each other.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// This node's name, unique in the cluster (`node1` by default).
    pub node: String,
    /// PostgreSQL URL (`postgres://user:password@host:port/database`). When set, every
    /// durable component (accounts, offline messages, rooms, archive, push) is stored
    /// there instead of the SQLite file in the data directory.
    pub postgres: Option<String>,
    /// NATS URL (`nats://host:port`) carrying traffic between nodes.
    pub nats: Option<String>,
    /// Seconds a node's room-ownership lease lasts without renewal: how long a dead
    /// node's rooms wait before another node may take them over.
    pub lease_ttl_secs: f64,
    /// Milliseconds a node uses the session directory's answer to where a room's
    /// subscribers have sessions before it asks again (`cluster/locations.rs`); 0 asks
    /// for every event. Also the longest a login waits for a node that does not confirm
    /// it dropped its answers for the account, so give every node the same value.
    pub locations_ttl_ms: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            node: "node1".into(),
            postgres: None,
            nats: None,
            lease_ttl_secs: 3.0,
            locations_ttl_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listeners {
    /// XMPP client-to-server over TCP (STARTTLS): `host:port`, the host an address or a
    /// name.
    pub c2s: ListenAddr,
    /// HTTP: `/ws` (XMPP over WebSocket), `/health`, `/metrics` and the demo app.
    pub http: ListenAddr,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain; a self-signed one is generated in the data dir when unset.
    pub cert: Option<PathBuf>,
    /// PEM private key for `cert`.
    pub key: Option<PathBuf>,
    /// Refuse authentication on unencrypted TCP from non-loopback peers.
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest stanza accepted before authentication, in bytes.
    pub max_stanza_pre_auth: usize,
    /// Largest stanza accepted after authentication, in bytes.
    pub max_stanza: usize,
    /// Deepest element nesting inside a stanza.
    pub max_depth: usize,
    /// Seconds a connection may take to authenticate.
    pub pre_auth_timeout_secs: u64,
    /// Messages kept in offline storage per account; later ones bounce.
    pub offline_max_per_account: u32,
    /// Failed SASL attempts allowed on one connection before it is closed.
    pub max_auth_failures: u32,
    /// Stanzas queued towards one session before further ones are dropped.
    pub session_queue: usize,
    /// Seconds without anything from a client before the server checks it is still there
    /// (WebSocket ping, or an XEP-0199 ping over TCP); 0 disables. A phone that went to
    /// sleep is noticed, so its events go to offline storage and push instead of a dead
    /// socket.
    pub keepalive_secs: u64,
    /// Seconds to wait for any answer to that check before dropping the session.
    pub keepalive_timeout_secs: u64,
    /// Stanzas per second one authenticated connection may sustain; beyond its burst the
    /// server stops reading from it (it is slowed down, not disconnected). 0 disables.
    pub rate_stanzas_per_sec: u32,
    /// Stanzas a connection may send at once before the rate applies.
    pub rate_stanza_burst: u32,
    /// Bytes per second one authenticated connection may sustain. 0 disables.
    pub rate_bytes_per_sec: u64,
    /// Bytes a connection may send at once before the byte rate applies.
    pub rate_byte_burst: u64,
    /// Open connections (TCP and WebSocket together) from one IP address; the next one gets
    /// a `policy-violation` stream error. 0 disables.
    pub max_connections_per_ip: usize,
    /// Bound resources per account; one more bind gets `resource-constraint` unless a session
    /// waiting to be resumed gives way (the oldest). 0 disables.
    pub max_sessions_per_account: usize,
    /// MucSub subscriptions one account may hold across all rooms (as stored). 0 disables.
    pub max_subscriptions_per_account: usize,
    /// Rooms one account may own; creating another is refused with `not-allowed`.
    /// 0 disables.
    pub max_rooms_per_account: usize,
    /// Largest MAM page served, whatever `<max/>` asks (`[muc] mam_max_page`, the older
    /// spelling, wins when set).
    pub mam_max_page: usize,
}

/// `[stream_management]`: XEP-0198 acks and resumption.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamManagement {
    /// Offer XEP-0198 (the `<sm/>` feature, inline in SASL2 and Bind2).
    pub enabled: bool,
    /// Seconds a session whose connection was lost waits for its client to resume it; a
    /// client's smaller `max` wins. 0 turns resumption off (acks still work).
    pub resume_timeout_secs: u32,
    /// Stanzas one session may hold unacknowledged (sent but not acked, plus what arrives
    /// while it waits to be resumed). Beyond it a live session ends with
    /// `policy-violation` and a waiting one is given up; either way what it held goes to
    /// offline storage as if it had timed out.
    pub max_queue: usize,
}

/// `[fast]`: XEP-0484 tokens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fast {
    /// Offer FAST (`HT-SHA-256-NONE`) inside SASL2.
    pub enabled: bool,
    /// How long a token works, in seconds.
    pub token_lifetime_secs: u64,
    /// A token used when it has less than this left is replaced by a new one in the same
    /// `<success/>` (the old one keeps working until the new one is used).
    pub rotate_before_secs: u64,
    /// The server key tokens are derived from (32 random bytes, created on first start
    /// with mode 0600); `<data_dir>/fast.key` when unset. The database holds only a
    /// per-token nonce and a hash, so a copy of it alone yields no token.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Directory of the demo app served at `/`.
    pub static_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "localhost".into(),
            muc_service: String::new(),
            data_dir: PathBuf::from("data"),
            listeners: Listeners::default(),
            tls: Tls::default(),
            limits: Limits::default(),
            registration: false,
            http: Http::default(),
            stream_management: StreamManagement::default(),
            fast: Fast::default(),
            auth: Default::default(),
            muc: toml::Table::new(),
            push: toml::Table::new(),
            cluster: Cluster::default(),
            metrics: toml::Table::new(),
            api: toml::Table::new(),
            file: None,
        }
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            c2s: "127.0.0.1:5222".parse().expect("static address"),
            http: "127.0.0.1:5280".parse().expect("static address"),
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: None,
            key: None,
            required: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_pre_auth: 8 * 1024,
            max_stanza: 256 * 1024,
            max_depth: 64,
            pre_auth_timeout_secs: 30,
            offline_max_per_account: 1000,
            max_auth_failures: 5,
            session_queue: 1024,
            keepalive_secs: 60,
            keepalive_timeout_secs: 30,
            rate_stanzas_per_sec: 500,
            rate_stanza_burst: 1000,
            rate_bytes_per_sec: 4 << 20,
            rate_byte_burst: 8 << 20,
            max_connections_per_ip: 256,
            max_sessions_per_account: 16,
            max_subscriptions_per_account: 1000,
            max_rooms_per_account: 100,
            mam_max_page: 250,
        }
    }
}

impl Default for StreamManagement {
    fn default() -> Self {
        StreamManagement {
            enabled: true,
            resume_timeout_secs: 300,
            max_queue: 5000,
        }
    }
}

impl Default for Fast {
    fn default() -> Self {
        Fast {
            enabled: true,
            token_lifetime_secs: 30 * 24 * 3600,
            rotate_before_secs: 15 * 24 * 3600,
            key_file: None,
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            static_dir: PathBuf::from("www/dist"),
        }
    }
}

impl Cluster {
    fn check(&mut self) -> anyhow::Result<()> {
        self.node = self.node.trim().to_owned();
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
        if self.node.is_empty() || self.node.len() > 64 || !self.node.chars().all(ok) {
            anyhow::bail!(
                "[cluster] node = {:?}: 1 to 64 letters, digits, '-', '_' or '.'",
                self.node
            );
        }
        if !(self.lease_ttl_secs.is_finite() && self.lease_ttl_secs > 0.0) {
            anyhow::bail!("[cluster] lease_ttl_secs must be a positive number of seconds");
        }
        if self.locations_ttl_ms > 60_000 {
            anyhow::bail!(
                "[cluster] locations_ttl_ms = {}: at most 60000 (a login may wait that long)",
                self.locations_ttl_ms
            );
        }
        if self
            .postgres
            .as_deref()
            .is_some_and(|u| u.trim().is_empty())
        {
            anyhow::bail!("[cluster] postgres is empty: give a URL or leave the key out");
        }
        if self.nats.is_some() && self.postgres.is_none() {
            anyhow::bail!("[cluster] nats needs [cluster] postgres: nodes share state there");
        }
        Ok(())
    }
}

impl Config {
    /// Reads a TOML file; missing keys take their defaults. Errors name the file and the
    /// key.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("config file {}: cannot read it: {e}", path.display()))?;
        let mut c = Self::parse(&text)
            .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
        c.file = Some(path.to_path_buf());
        Ok(c)
    }

    /// Reads TOML text; errors name the key (`listeners.c2s: …`) and its line.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
        let mut c: Config = serde_path_to_error::deserialize(de).map_err(path_error)?;
        c.normalize()?;
        Ok(c)
    }

    /// A module's own table (`[muc]`, `[push]`, `[metrics]`) read into its settings type;
    /// errors name the file, the table and the key.
    pub fn module_table<T: DeserializeOwned>(
        &self,
        name: &str,
        table: &toml::Table,
    ) -> anyhow::Result<T> {
        serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            let key = e.path().to_string();
            let at = if key == "." {
                String::new()
            } else {
                format!(" {key}")
            };
            anyhow::anyhow!("{}[{name}]{at}: {}", self.origin(), e.into_inner())
        })
    }

    /// `config file <path>: ` when read from a file, for error messages.
    pub fn origin(&self) -> String {
        match &self.file {
            Some(p) => format!("config file {}: ", p.display()),
            None => String::new(),
        }
    }

    /// Lower-cases domains and fills the derived MUC domain.
    pub fn normalize(&mut self) -> anyhow::Result<()> {
        self.domain = self.domain.trim().to_ascii_lowercase();
        if self.domain.is_empty() {
            anyhow::bail!("domain must not be empty");
        }
        if self.muc_service.trim().is_empty() {
            self.muc_service = format!("conference.{}", self.domain);
        }
        self.muc_service = self.muc_service.trim().to_ascii_lowercase();
        if self.muc_service == self.domain {
            anyhow::bail!("muc_service must differ from domain");
        }
        self.cluster.check()
    }

    /// The SQLite database file (when `[cluster] postgres` is not set).
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("mucsub.sqlite3")
    }

    /// Where the FAST token key lives (`[fast] key_file`, else `<data_dir>/fast.key`).
    pub fn fast_key_path(&self) -> PathBuf {
        self.fast
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("fast.key"))
    }
}

/// A deserialisation error with the path of the key at fault.
fn path_error(e: serde_path_to_error::Error<toml::de::Error>) -> anyhow::Error {
    let key = e.path().to_string();
    let inner = e.into_inner().to_string();
    let inner = inner.trim_end();
    if key == "." {
        anyhow::anyhow!("{inner}")
    } else {
        anyhow::anyhow!("key `{key}`: {inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_loopback_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.domain, "localhost");
        assert_eq!(c.muc_service, "conference.localhost");
        assert_eq!(c.listeners.c2s.host(), "127.0.0.1");
        assert_eq!(c.limits.max_stanza, 262_144);
        assert!(!c.registration);
        assert_eq!(c.stream_management.resume_timeout_secs, 300);
        assert!(c.fast.enabled);
        assert_eq!(c.fast_key_path(), PathBuf::from("data/fast.key"));
    }

    #[test]
    fn overrides_and_unknown_keys() {
        let c = Config::parse(
            "domain = 'Example.org'\n[limits]\nmax_stanza = 1000\n[muc]\nmax_rooms = 5\n",
        )
        .unwrap();
        assert_eq!(c.domain, "example.org");
        assert_eq!(c.muc_service, "conference.example.org");
        assert_eq!(c.limits.max_stanza, 1000);
        assert_eq!(c.limits.max_depth, 64);
        assert_eq!(c.muc.get("max_rooms").and_then(|v| v.as_integer()), Some(5));
        assert!(Config::parse("bogus = 1").is_err());
    }

    #[test]
    fn cluster_table() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.cluster.postgres, None);
        assert_eq!(c.cluster.node, "node1");
        assert_eq!(c.cluster.lease_ttl_secs, 3.0);
        assert_eq!(c.cluster.locations_ttl_ms, 1000);
        let c = Config::parse(
            "[cluster]\nnode = 'b'\npostgres = 'postgres://m@127.0.0.1:5433/chat'\n\
             nats = 'nats://127.0.0.1:4222'\nlease_ttl_secs = 1.5\nlocations_ttl_ms = 0\n",
        )
        .unwrap();
        assert_eq!(
            c.cluster.postgres.as_deref(),
            Some("postgres://m@127.0.0.1:5433/chat")
        );
        assert_eq!(c.cluster.nats.as_deref(), Some("nats://127.0.0.1:4222"));
        assert_eq!(
            (c.cluster.node.as_str(), c.cluster.lease_ttl_secs),
            ("b", 1.5)
        );
        assert_eq!(c.cluster.locations_ttl_ms, 0);
        for (bad, needle) in [
            ("[cluster]\nnode = 'a b'\n", "[cluster] node"),
            ("[cluster]\nlease_ttl_secs = 0\n", "lease_ttl_secs"),
            ("[cluster]\nlocations_ttl_ms = 60001\n", "locations_ttl_ms"),
            ("[cluster]\npostgres = ' '\n", "postgres is empty"),
            ("[cluster]\nnats = 'nats://x'\n", "needs [cluster] postgres"),
            ("[cluster]\npg = 'x'\n", "unknown field"),
        ] {
            let e = Config::parse(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn host_names_are_accepted_in_listener_addresses() {
        let c = Config::parse("[listeners]\nc2s = 'localhost:5222'\nhttp = '[::1]:5280'").unwrap();
        assert_eq!(c.listeners.c2s.to_string(), "localhost:5222");
        assert_eq!(c.listeners.http.to_string(), "[::1]:5280");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = Config::parse("[listeners]\nc2s = 'nowhere'\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `listeners.c2s`") && e.contains("host:port"),
            "{e}"
        );
        let e = Config::parse("[limits]\nmax_stanza = 'big'\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `limits.max_stanza`") && e.contains("line 2"),
            "{e}"
        );
        let e = Config::parse("[auth]\nmethods = ['ldap']\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `auth.methods"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[limits]\nmax_depth = -1\n").unwrap();
        let e = Config::load(&file).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "config file {}: key `limits.max_depth`",
                file.display()
            )),
            "{e}"
        );
        let e = Config::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml: cannot read it"), "{e}");

        // A module's own table: its name and the key.
        let mut c = Config::load(&{
            std::fs::write(&file, "[muc]\nhistory_size = 'x'\n").unwrap();
            file.clone()
        })
        .unwrap();
        let table = std::mem::take(&mut c.muc);
        let e = c
            .module_table::<crate::muc::Settings>("muc", &table)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.toml: [muc] history_size:"), "{e}");
    }
}
