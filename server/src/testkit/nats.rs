//! A private `nats-server` for cluster tests (Debian's `nats-server`, core NATS only), on
//! a free loopback port, which a test may stop and start again on the same port (NATS
//! lost at run time). A missing binary fails the test with a message saying so: a
//! cluster test never skips silently.

use std::time::Duration;

use super::basics::TIMEOUT;

/// Where Debian puts it, for a PATH without `/usr/sbin`.
const FALLBACK: &str = "/usr/sbin/nats-server";

pub struct NatsServer {
    port: u16,
    child: Option<tokio::process::Child>,
}

fn binary() -> String {
    let on_path = std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return "nats-server".into();
    }
    if std::path::Path::new(FALLBACK).exists() {
        return FALLBACK.into();
    }
    panic!(
        "nats-server not found (neither on PATH nor at {FALLBACK}): the cluster tests need \
         it; install Debian's nats-server (scripts/bootstrap.sh does)"
    );
}

impl NatsServer {
    /// Starts one on a free port; returns once it accepts connections.
    pub async fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut s = NatsServer { port, child: None };
        s.start_again().await;
        s
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops it (kill -9) and waits until the process is gone.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Starts it again on the same port; returns once it accepts connections.
    pub async fn start_again(&mut self) {
        self.stop().await;
        let child = tokio::process::Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        let addr = ("127.0.0.1", self.port);
        tokio::time::timeout(TIMEOUT, async {
            while tokio::net::TcpStream::connect(addr).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("nats-server accepts connections");
    }
}
