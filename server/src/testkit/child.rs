//! The real `mucsub-server` binary in a child process, for `kill -9` tests.

use super::basics::TIMEOUT;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::io::AsyncBufReadExt;

/// The real binary in a child process (for `kill -9` tests). Integration tests in
/// `server/tests/` pass `env!("CARGO_BIN_EXE_mucsub-server")` as `bin`.
pub struct ChildServer {
    child: tokio::process::Child,
    pub c2s_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
}

/// Writes (once) and returns the config of the child server on `data_dir`: ephemeral
/// loopback ports on the test storage ([`storage_section`]).
async fn child_config(data_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(data_dir).expect("data dir");
    let cfg = data_dir.join("test-config.toml");
    if cfg.exists() {
        return cfg;
    }
    let text = format!(
        "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n{}",
        data_dir.display(),
        storage_section(data_dir).await
    );
    std::fs::write(&cfg, text).expect("write config");
    cfg
}

/// The config lines that put the child servers on `data_dir` on the test storage: none
/// on SQLite; with `MUCSUB_TEST_STORAGE=postgres` a `[cluster]` table naming a PostgreSQL
/// database of its own, the same for every process started on that data dir (recorded in
/// `<data_dir>/test-storage.toml`; kept until the test's PostgreSQL server goes).
async fn storage_section(data_dir: &Path) -> String {
    if !super::postgres::storage_is_postgres() {
        return String::new();
    }
    let path = data_dir.join("test-storage.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text;
    }
    let db = super::postgres::shared().fresh_database().await;
    let text = format!("[cluster]\npostgres = '{}'\n", db.url);
    // Outlives this process's handles: several child processes share it.
    std::mem::forget(db);
    std::fs::write(&path, &text).expect("write storage config");
    text
}

impl ChildServer {
    /// The config file every child process on `data_dir` runs with (`--config`), for the
    /// CLI commands a test runs beside it.
    pub async fn config_file(data_dir: &Path) -> PathBuf {
        child_config(data_dir).await
    }

    /// Starts `bin run` on ephemeral loopback ports with `data_dir`; waits until it
    /// prints its addresses.
    pub async fn spawn(bin: &Path, data_dir: &Path) -> ChildServer {
        let config = std::fs::read_to_string(child_config(data_dir).await).expect("read config");
        Self::spawn_with(bin, data_dir, &config, &[]).await
    }

    /// Starts `bin run --config <data_dir>/test-config.toml [args]` with `config` as that
    /// file; waits until it prints its addresses. Its log (stderr) goes to
    /// `<data_dir>/server.log`. A `config` without a `[cluster]` table runs on the test
    /// storage ([`storage_section`]: its lines are appended), so a test with a config of
    /// its own runs on PostgreSQL too under `MUCSUB_TEST_STORAGE=postgres`.
    pub async fn spawn_with(
        bin: &Path,
        data_dir: &Path,
        config: &str,
        args: &[&str],
    ) -> ChildServer {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let cfg = data_dir.join("test-config.toml");
        let mut config = config.to_owned();
        if !config.contains("[cluster]") {
            config.push_str(&storage_section(data_dir).await);
        }
        std::fs::write(&cfg, config).expect("write config");
        let mut child = tokio::process::Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .stdout(std::process::Stdio::piped())
            // The server's log, appended across restarts, for post-mortems of failed tests.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data_dir.join("server.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            )
            .kill_on_drop(true)
            .spawn()
            .expect("spawn server binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let (mut c2s, mut http) = (None, None);
        tokio::time::timeout(TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(a) = line.strip_prefix("xmpp c2s listening on ") {
                    c2s = a.trim().parse().ok();
                }
                if let Some(a) = line.strip_prefix("http listening on http://") {
                    http = a.trim().trim_end_matches('/').parse().ok();
                }
                if c2s.is_some() && http.is_some() {
                    break;
                }
            }
        })
        .await
        .expect("server binary printed its addresses");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ChildServer {
            child,
            c2s_addr: c2s.expect("c2s address"),
            http_addr: http.expect("http address"),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Runs `bin user add NAME PASSWORD` with the config of `data_dir` (server not running
    /// or running: both engines handle both).
    pub async fn add_user(bin: &Path, data_dir: &Path, name: &str, password: &str) {
        let cfg = child_config(data_dir).await;
        let status = tokio::process::Command::new(bin)
            .args(["user", "add", name, "--password", password, "--config"])
            .arg(&cfg)
            .output()
            .await
            .expect("run user add");
        assert!(
            status.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process: `STOP` pauses it with every
    /// socket open, as a stalled host would, until `CONT`.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the server process is running");
        let ok = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid}");
    }

    /// SIGKILL, no chance to clean up; waits for the process to be gone.
    /// Whether the process is still running (it did not exit or crash).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn kill9(mut self) {
        self.child.start_kill().expect("kill");
        let _ = self.child.wait().await;
    }

    /// SIGTERM (graceful) and waits for exit; returns whether it exited successfully.
    pub async fn terminate(mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        match tokio::time::timeout(TIMEOUT, self.child.wait()).await {
            Ok(Ok(s)) => s.success(),
            _ => false,
        }
    }
}
