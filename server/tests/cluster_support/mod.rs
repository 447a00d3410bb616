//! What the cluster tests with real nodes share: starting a node, logging in, reading
//! PostgreSQL, and posting a message (with an origin-id) until the room echoes it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use minidom::Element;
use mucsub_server::testkit::{http_get, ChildServer, Mech, RawClient, TIMEOUT};

use crate::support::*;

/// Node `node` of the cluster on database `url` and the bus at `nats`, with leases of
/// `ttl` seconds.
pub async fn spawn(
    bin: &Path,
    dir: &Path,
    node: &str,
    url: &str,
    nats: &str,
    ttl: u32,
) -> ChildServer {
    spawn_node(bin, dir, node, url, Some(nats), f64::from(ttl)).await
}

/// Node `node` on database `url`, on the bus at `nats` or with none (a room then changes
/// node only once its owner's lease of `ttl` seconds has expired).
pub async fn spawn_node(
    bin: &Path,
    dir: &Path,
    node: &str,
    url: &str,
    nats: Option<&str>,
    ttl: f64,
) -> ChildServer {
    spawn_node_with(bin, dir, node, url, nats, ttl, "").await
}

/// [`spawn_node`] with `extra` lines in its `[cluster]` table.
pub async fn spawn_node_with(
    bin: &Path,
    dir: &Path,
    node: &str,
    url: &str,
    nats: Option<&str>,
    ttl: f64,
    extra: &str,
) -> ChildServer {
    let bus = nats.map(|n| format!("nats = '{n}'\n")).unwrap_or_default();
    let config = format!(
        "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n\
         [cluster]\nnode = '{node}'\npostgres = '{url}'\n{bus}lease_ttl_secs = {ttl}\n{extra}",
        dir.display()
    );
    ChildServer::spawn_with(bin, dir, &config, &[]).await
}

pub async fn connect(srv: &ChildServer, user: &str) -> RawClient {
    let mut c = RawClient::login_tcp(srv.c2s_addr, user, "pw", Mech::Plain, None, Some("r"))
        .await
        .expect("login");
    c.send("<presence/>").await;
    c.drain().await;
    c
}

pub async fn rows(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query(sql, &[]).await.unwrap()
}

/// The body and stanza-id of a room message bob sees: the plain echo, or the MucSub
/// `messages` event wrapping it.
pub fn echoed(el: &Element) -> Option<(String, i64)> {
    let inner = match unwrap_event(el) {
        Some((node, _, inner)) if node == "messages" => inner,
        Some(_) => return None,
        None if el.name() == "message" && el.attr("type") == Some("groupchat") => el.clone(),
        None => return None,
    };
    let text = inner.get_child("body", CLIENT)?.text();
    Some((text, stanza_id(&inner)?.parse().ok()?))
}

/// Posts `text` with origin-id `origin` until the room echoes it: a `wait` error (the room
/// is being taken over) or silence (an answer lost with a dying node) means resend, which
/// the origin-id makes a re-echo of a stored message rather than a second row. Echoes of
/// earlier messages arriving late must carry the ids already recorded in `ids`.
pub async fn post_until_echoed(
    c: &mut RawClient,
    r: &str,
    text: &str,
    origin: &str,
    ids: &[i64],
) -> i64 {
    tokio::time::timeout(TIMEOUT * 4, async {
        loop {
            c.send(&format!(
                "<message to='{r}' type='groupchat' id='{origin}'><body>{text}</body>\
                 <origin-id xmlns='{SID}' id='{origin}'/></message>"
            ))
            .await;
            while let Some(el) = c.try_recv(Duration::from_secs(2)).await {
                if el.attr("id") == Some(origin) && el.attr("type") == Some("error") {
                    let kind = error_of(&el).map(|(kind, _)| kind);
                    assert_eq!(kind.as_deref(), Some("wait"), "{}", String::from(&el));
                    break;
                }
                let Some((got, id)) = echoed(&el) else {
                    continue;
                };
                if got == text {
                    return id;
                }
                if let Some(n) = got.strip_prefix("m ").and_then(|n| n.parse::<usize>().ok()) {
                    assert_eq!(
                        ids.get(n),
                        Some(&id),
                        "a late echo of {got} under another id"
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the room answered again")
}

/// Two nodes, `a` and `b`, on a fresh database and their own `nats-server`, with leases of
/// `ttl` seconds, and the accounts `users` (password `pw`). The fields drop in this order:
/// the nodes before their data directories, the bus and the database.
pub struct TwoNodes {
    pub a: ChildServer,
    pub b: ChildServer,
    pub dirs: Vec<tempfile::TempDir>,
    pub nats: mucsub_server::testkit::nats::NatsServer,
    pub db: mucsub_server::testkit::postgres::PgDatabase,
}

pub async fn two_nodes(ttl: u32, users: &[&str]) -> TwoNodes {
    two_nodes_with(ttl, users, "").await
}

/// [`two_nodes`] with `extra` lines in both nodes' `[cluster]` tables.
pub async fn two_nodes_with(ttl: u32, users: &[&str], extra: &str) -> TwoNodes {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = mucsub_server::testkit::postgres::shared()
        .fresh_database()
        .await;
    let nats = mucsub_server::testkit::nats::NatsServer::start().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (url, bus, ttl) = (&db.url, Some(nats.url()), f64::from(ttl));
    let a = spawn_node_with(bin, dirs[0].path(), "a", url, bus.as_deref(), ttl, extra).await;
    let b = spawn_node_with(bin, dirs[1].path(), "b", url, bus.as_deref(), ttl, extra).await;
    for u in users {
        ChildServer::add_user(bin, dirs[0].path(), u, "pw").await;
    }
    TwoNodes {
        a,
        b,
        dirs,
        nats,
        db,
    }
}

/// A small deterministic generator (xorshift): seeded rounds replay from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The number in environment variable `name`, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value of counter `name` on `srv`'s `/metrics`.
pub async fn counter(srv: &ChildServer, name: &str) -> u64 {
    let r = http_get(srv.http_addr, "/metrics", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let line = r
        .body
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{}", r.body));
    let value = line.split_whitespace().nth(1).expect("a value");
    value.parse::<f64>().expect("a number") as u64
}

/// `n` groupchat messages to `room`, bodies `{prefix}0`…, as one write: whatever handles
/// them (the room's task, or a node forwarding to the room's owner) finds them queued
/// while it works on the first.
pub fn burst(room: &str, prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("<message to='{room}' type='groupchat' id='{prefix}{i}'><body>{prefix}{i}</body></message>")
        })
        .collect()
}
