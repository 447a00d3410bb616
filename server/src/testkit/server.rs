//! The in-process server.

use super::basics::count_panics;
use super::client::RawClient;
use super::login::Mech;
use crate::config::Config;
use crate::server::{Server, ServerHandle};
use crate::storage::Credentials;
use crate::ServerContext;
use std::net::SocketAddr;
use std::path::Path;

/// An in-process server.
pub struct TestServer {
    handle: Option<ServerHandle>,
    config: Config,
    _dir: Option<tempfile::TempDir>,
    /// Its PostgreSQL database (`MUCSUB_TEST_STORAGE=postgres`), dropped last.
    _pg: Option<super::postgres::PgDatabase>,
}

impl TestServer {
    /// Domain `localhost`, MUC `conference.localhost`, ports `127.0.0.1:0`, temp data dir.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with config changes (limits, registration, …). With
    /// `MUCSUB_TEST_STORAGE=postgres` its storage is a fresh PostgreSQL database.
    pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
        count_panics();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let pg = super::postgres::database_for(&mut config).await;
        f(&mut config);
        let handle = Server::start(config.clone()).await.expect("server starts");
        TestServer {
            handle: Some(handle),
            config,
            _dir: Some(dir),
            _pg: pg,
        }
    }

    fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server is running")
    }

    pub fn ctx(&self) -> &ServerContext {
        &self.handle().ctx
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    pub fn c2s_addr(&self) -> SocketAddr {
        self.handle().c2s_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.handle().http_addr
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http_addr())
    }

    /// A config file for `mucsub-server user …` run beside this server: its data dir and,
    /// with `MUCSUB_TEST_STORAGE=postgres`, its database, so the CLI sees the server's
    /// accounts and tokens on either engine (`--config` this path).
    pub fn cli_config(&self) -> std::path::PathBuf {
        let path = self.data_dir().join("cli-config.toml");
        let mut text = format!("data_dir = '{}'\n", self.data_dir().display());
        if let Some(url) = &self.config.cluster.postgres {
            text.push_str(&format!("[cluster]\npostgres = '{url}'\n"));
        }
        std::fs::write(&path, text).expect("write the CLI's config");
        path
    }

    /// Runs `mucsub-server ARGS --config <cli_config>` (the binary is
    /// `env!("CARGO_BIN_EXE_mucsub-server")` in `server/tests/`), asserts it succeeded and
    /// returns its standard output.
    pub fn cli(&self, bin: &str, args: &[&str]) -> String {
        let out = std::process::Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(self.cli_config())
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates an account (panics if it exists).
    pub async fn add_user(&self, name: &str, password: &str) {
        let created = self
            .ctx()
            .accounts
            .create(name, Credentials::derive(password).expect("derive"))
            .await
            .expect("create account");
        assert!(created, "account {name} already exists");
    }

    /// Stops the server (closing every stream) and starts it again on the same data dir;
    /// the ports change.
    pub async fn restart(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
        self.handle = Some(
            Server::start(self.config.clone())
                .await
                .expect("server restarts"),
        );
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }

    /// TCP on loopback, SASL PLAIN, resource bound, initial presence sent: ready to chat.
    pub async fn login(&self, user: &str, password: &str) -> RawClient {
        let mut c = self.login_bound(user, password, None).await;
        c.send("<presence/>").await;
        c
    }

    /// TCP, SASL PLAIN, bound to `resource` (or a server-generated one); no presence yet.
    pub async fn login_bound(
        &self,
        user: &str,
        password: &str,
        resource: Option<&str>,
    ) -> RawClient {
        RawClient::login_tcp(self.c2s_addr(), user, password, Mech::Plain, None, resource)
            .await
            .expect("login")
    }

    /// The development certificate the server generated (PEM), for STARTTLS clients.
    pub fn dev_cert(&self) -> Vec<u8> {
        std::fs::read(self.data_dir().join("dev-cert.pem")).expect("dev certificate")
    }
}

/// Stores without a server, for tests of one part (push, storage): SQLite in the data
/// dir, or with `MUCSUB_TEST_STORAGE=postgres` a fresh PostgreSQL database.
pub struct TestStorage {
    pub storage: crate::storage::Storage,
    /// The config it was opened with: `crate::storage::open(&config)` opens it again.
    pub config: Config,
    _pg: Option<super::postgres::PgDatabase>,
}

impl TestStorage {
    /// Opens the storage of [`test_config`]`(data_dir)`.
    pub async fn open(data_dir: &Path) -> TestStorage {
        let mut config = test_config(data_dir);
        let pg = super::postgres::database_for(&mut config).await;
        let storage = crate::storage::open(&config).await.expect("open storage");
        TestStorage {
            storage,
            config,
            _pg: pg,
        }
    }
}

/// The config [`TestServer`] uses, with `data_dir` as the data directory.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.listeners.c2s = "127.0.0.1:0".parse().expect("addr");
    config.listeners.http = "127.0.0.1:0".parse().expect("addr");
    config.http.static_dir = data_dir.join("www");
    config.normalize().expect("valid config");
    config
}
