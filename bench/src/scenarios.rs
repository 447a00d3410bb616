//! The scenarios other than fan-out: subscribe storm, resync with the native SDK client, and
//! MAM page latency.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use mucsub::client::{AppEvent, ClientConfig, Command};
use mucsub::event::EventKind;
use mucsub::native::{Endpoint, NativeClient};
use mucsub::session::SessionConfig;
use mucsub::store::{MemoryStore, Store};
use serde::Serialize;

use crate::fanout::{bounded, run_id, subscribe_iq, Env, NODE_MESSAGES, NODE_SUBJECT};
use crate::measure::{now_us, Percentiles};
use crate::register::ensure_accounts;
use crate::xmpp::{Target, Xmpp, STEP_TIMEOUT};

#[derive(Debug, Clone, Serialize)]
pub struct StormResult {
    pub scenario: &'static str,
    pub clients: usize,
    pub rooms: usize,
    pub iqs: usize,
    pub ok: usize,
    pub seconds: f64,
    pub iq_per_s: f64,
    pub latency: Percentiles,
}

/// C clients each subscribe to the same R existing rooms, one IQ at a time per client.
pub async fn storm(env: &Env, clients: usize, rooms: usize) -> Result<StormResult> {
    let id = run_id();
    let owner = format!("{}owner", env.prefix);
    let users: Vec<String> = (0..clients)
        .map(|i| format!("{}sub{i}", env.prefix))
        .collect();
    let mut all = users.clone();
    all.push(owner.clone());
    ensure_accounts(
        &env.registrar,
        &env.target,
        &env.domain,
        &all,
        &env.password,
        env.parallel,
    )
    .await?;
    let room_jids: Vec<String> = (0..rooms)
        .map(|r| format!("storm{id}r{r}@{}", env.muc))
        .collect();
    let mut o = Xmpp::login(&env.target, &env.domain, &owner, &env.password).await?;
    for (j, room) in room_jids.iter().enumerate() {
        let qid = format!("c{j}");
        o.iq_ok(&subscribe_iq(room, "owner", &[NODE_SUBJECT], &qid), &qid)
            .await?;
    }
    let jobs: Vec<_> = users
        .iter()
        .map(|u| {
            let (env, u) = (env.clone(), u.clone());
            async move { Xmpp::login(&env.target, &env.domain, &u, &env.password).await }
        })
        .collect();
    let conns = bounded(env.parallel, jobs).await?;
    let start = now_us();
    let mut set = tokio::task::JoinSet::new();
    for (i, mut x) in conns.into_iter().enumerate() {
        let room_jids = room_jids.clone();
        set.spawn_local(async move {
            let mut lat = Vec::new();
            let mut ok = 0;
            for (j, room) in room_jids.iter().enumerate() {
                let qid = format!("s{j}");
                let t = now_us();
                let r = x
                    .iq(
                        &subscribe_iq(room, &format!("n{i}"), &[NODE_MESSAGES], &qid),
                        &qid,
                    )
                    .await?;
                lat.push(now_us() - t);
                if r.attr("type") == Some("result") {
                    ok += 1;
                }
            }
            Ok::<_, anyhow::Error>((lat, ok))
        });
    }
    let mut lat = Vec::new();
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        let (l, k) = r??;
        lat.extend(l);
        ok += k;
    }
    let seconds = (now_us() - start) as f64 / 1e6;
    let iqs = clients * rooms;
    Ok(StormResult {
        scenario: "storm",
        clients,
        rooms,
        iqs,
        ok,
        seconds,
        iq_per_s: iqs as f64 / seconds.max(1e-9),
        latency: Percentiles::of(lat),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ResyncResult {
    pub scenario: &'static str,
    pub rooms: usize,
    pub messages: usize,
    /// Messages from this run found in the client's store after it reported `Synced`.
    pub received: usize,
    /// From `connect()` to every room in sync, in seconds.
    pub seconds: f64,
    pub messages_per_s: f64,
    /// Warnings the client reported during the resync (retries, fallbacks, odd answers):
    /// where a slow catch-up spends its time.
    pub warnings: usize,
}

fn endpoint(t: &Target) -> Endpoint {
    match t {
        Target::Tcp(a) => Endpoint::Tcp(a.clone()),
        Target::Ws(u) => Endpoint::WebSocket(u.clone()),
    }
}

async fn native_client(env: &Env, user: &str) -> Result<NativeClient<MemoryStore>> {
    let session = SessionConfig {
        jid: jid::BareJid::new(&format!("{user}@{}", env.domain))?,
        password: env.password.clone(),
        resource: Some("bench".into()),
        framing: mucsub::session::Framing::Tcp,
        secure: true,
        initial_presence: true,
        token: false,
    };
    let mut cfg = ClientConfig::new(session);
    cfg.muc_service = Some(env.muc.clone());
    let mut c = NativeClient::new(cfg, endpoint(&env.target), MemoryStore::new()).await?;
    c.set_auto_reconnect(false);
    Ok(c)
}

async fn within<T>(
    what: &str,
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, mucsub::native::NativeError>>,
) -> Result<T> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| anyhow!("{what} timed out"))?
        .map_err(|e| anyhow!("{what}: {e}"))
}

/// A native SDK client subscribes to R rooms and goes away; N messages are posted across the
/// rooms; the clock runs from its `connect()` until every room is back in sync.
pub async fn resync(env: &Env, messages: usize, rooms: usize) -> Result<ResyncResult> {
    if rooms == 0 {
        bail!("rooms must be at least 1");
    }
    let id = run_id();
    // A reader of its own per run: the client resyncs every room its account follows, and
    // a server that keeps its state between runs (ejabberd) would otherwise have it catch
    // up on every earlier run's rooms too (the first comparison measured 20 runs' worth).
    let reader = format!("{}reader{id}", env.prefix);
    let poster = format!("{}poster", env.prefix);
    ensure_accounts(
        &env.registrar,
        &env.target,
        &env.domain,
        &[reader.clone(), poster.clone()],
        &env.password,
        2,
    )
    .await?;
    let room_jids: Vec<String> = (0..rooms)
        .map(|r| format!("rs{id}r{r}@{}", env.muc))
        .collect();

    // The poster creates the rooms and receives its own messages, which paces it: the server
    // has archived message k once the poster sees it come back.
    let mut p = Xmpp::login(&env.target, &env.domain, &poster, &env.password).await?;
    for (j, room) in room_jids.iter().enumerate() {
        let qid = format!("c{j}");
        p.iq_ok(&subscribe_iq(room, "poster", &[NODE_MESSAGES], &qid), &qid)
            .await?;
    }
    let mut c = native_client(env, &reader).await?;
    within("connect", STEP_TIMEOUT, c.connect()).await?;
    within("first sync", STEP_TIMEOUT, c.wait_synced()).await?;
    for room in &room_jids {
        let r = within(
            "subscribe",
            STEP_TIMEOUT,
            c.command(Command::subscribe(room.as_str(), "reader")),
        )
        .await?;
        r.map_err(|e| anyhow!("subscribe {room}: {e:?}"))?;
    }
    within("sync after subscribe", STEP_TIMEOUT, c.wait_synced()).await?;
    within("disconnect", STEP_TIMEOUT, c.disconnect()).await?;
    c.take_events();

    eprintln!("[resync] posting {messages} messages over {rooms} rooms while the reader is away");
    const WINDOW: usize = 200;
    let mut acked = 0;
    let tag = format!("rs{id}");
    for i in 0..messages {
        let room = &room_jids[i % rooms];
        p.send(&format!(
            "<message xmlns='jabber:client' type='groupchat' to='{room}' id='p{i}'><body>{tag} {i}</body></message>"
        ))
        .await?;
        while i + 1 - acked > WINDOW || (i + 1 == messages && acked < messages) {
            let e = tokio::time::timeout(STEP_TIMEOUT, p.recv())
                .await
                .map_err(|_| anyhow!("poster: no echo"))??;
            if e.name() == "message" && mucsub::session::framing::serialize(&e).contains(&tag) {
                acked += 1;
            }
        }
    }

    let t = now_us();
    within("reconnect", STEP_TIMEOUT, c.connect()).await?;
    within("resync", Duration::from_secs(600), c.wait_synced()).await?;
    let seconds = (now_us() - t) as f64 / 1e6;
    let warnings: Vec<String> = c
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            AppEvent::Warning(w) => Some(format!("{w:?}")),
            _ => None,
        })
        .collect();
    if let Some(first) = warnings.first() {
        eprintln!("[resync] {} warnings; the first: {first}", warnings.len());
    }
    let mut received = 0;
    for room in &room_jids {
        let evs = c
            .store()
            .events(room, messages + 1000)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        received += evs
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Message { body } if body.starts_with(&tag)))
            .count();
    }
    let _ = c.disconnect().await;
    Ok(ResyncResult {
        scenario: "resync",
        rooms,
        messages,
        received,
        seconds,
        messages_per_s: messages as f64 / seconds.max(1e-9),
        warnings: warnings.len(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveResult {
    pub scenario: &'static str,
    pub room: String,
    pub page: usize,
    pub queries: usize,
    pub ok: usize,
    /// `count` reported by the server for the room's archive, when given.
    pub archive_count: Option<u64>,
    pub latency: Percentiles,
}

fn mam_query(room: &str, qid: &str, page: usize, before: &str) -> String {
    let before = if before.is_empty() {
        "<before/>".to_owned()
    } else {
        format!("<before>{before}</before>")
    };
    format!(
        "<iq xmlns='jabber:client' type='set' to='{room}' id='{qid}'><query xmlns='urn:xmpp:mam:2' queryid='{qid}'><set xmlns='http://jabber.org/protocol/rsm'><max>{page}</max>{before}</set></query></iq>"
    )
}

/// Pages of `page` from a room's archive: the newest, then walking back with `before`
/// (wrapping to the newest when the start is reached). With no `room`, one is created and
/// `fill` messages are posted first.
pub async fn archive(
    env: &Env,
    room: Option<String>,
    fill: usize,
    page: usize,
    queries: usize,
) -> Result<ArchiveResult> {
    let user = format!("{}archivist", env.prefix);
    ensure_accounts(
        &env.registrar,
        &env.target,
        &env.domain,
        std::slice::from_ref(&user),
        &env.password,
        1,
    )
    .await?;
    let mut x = Xmpp::login(&env.target, &env.domain, &user, &env.password).await?;
    let room = match room {
        Some(r) => r,
        None => {
            let room = format!("arch{}@{}", run_id(), env.muc);
            x.iq_ok(
                &subscribe_iq(&room, "archivist", &[NODE_MESSAGES], "c0"),
                "c0",
            )
            .await?;
            eprintln!("[archive] filling {room} with {fill} messages");
            const WINDOW: usize = 200;
            let mut acked = 0;
            for i in 0..fill {
                x.send(&format!("<message xmlns='jabber:client' type='groupchat' to='{room}' id='f{i}'><body>fill {i}</body></message>"))
                    .await?;
                while i + 1 - acked > WINDOW || (i + 1 == fill && acked < fill) {
                    let e = tokio::time::timeout(STEP_TIMEOUT, x.recv())
                        .await
                        .map_err(|_| anyhow!("archivist: no echo"))??;
                    if e.name() == "message" {
                        acked += 1;
                    }
                }
            }
            room
        }
    };
    let mut lat = Vec::new();
    let mut ok = 0;
    let mut before = String::new();
    let mut count = None;
    for q in 0..queries {
        let qid = format!("q{q}");
        let t = now_us();
        let r = x.iq(&mam_query(&room, &qid, page, &before), &qid).await?;
        lat.push(now_us() - t);
        let fin = r.get_child("fin", "urn:xmpp:mam:2");
        if r.attr("type") == Some("result") && fin.is_some() {
            ok += 1;
        }
        let set = fin.and_then(|f| f.get_child("set", "http://jabber.org/protocol/rsm"));
        count = count.or_else(|| {
            set.and_then(|s| s.get_child("count", "http://jabber.org/protocol/rsm"))
                .and_then(|c| c.text().parse().ok())
        });
        let complete = fin.and_then(|f| f.attr("complete")) == Some("true");
        before = match set.and_then(|s| s.get_child("first", "http://jabber.org/protocol/rsm")) {
            Some(first) if !complete => first.text(),
            _ => String::new(),
        };
    }
    Ok(ArchiveResult {
        scenario: "archive",
        room,
        page,
        queries,
        ok,
        archive_count: count,
        latency: Percentiles::of(lat),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub scenario: &'static str,
    /// From spawning the server binary to its listeners being bound (when it was spawned).
    pub start_s: Option<f64>,
    /// From spawning (or from the run start) to the first login completing.
    pub first_login_s: f64,
    /// The service-level `<subscriptions/>` IQ of the first login.
    pub list_ms: f64,
    pub subscriptions: usize,
    /// Server RSS after start and one login, and after the idle pause.
    pub server_rss_mb: Option<f64>,
    pub server_rss_idle_mb: Option<f64>,
}

/// Idle cost: optionally spawns the server binary on a (seeded) data directory, times its
/// cold start and the first login + subscription list, then samples its RSS while idle.
pub async fn idle(
    env: &Env,
    spawn: Option<(String, String, String)>,
    user: &str,
    idle_secs: u64,
) -> Result<IdleResult> {
    use tokio::io::AsyncBufReadExt;
    let t0 = now_us();
    let mut child = None;
    let mut target = env.target.clone();
    let mut pid = env.server_pid;
    let mut start_s = None;
    if let Some((bin, config, data_dir)) = spawn {
        let mut c = tokio::process::Command::new(&bin)
            .args(["run", "--config", &config, "--data-dir", &data_dir])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        pid = c.id();
        let out = c.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(out).lines();
        let addr = tokio::time::timeout(STEP_TIMEOUT, async {
            while let Some(l) = lines.next_line().await? {
                if let Some(a) = l.strip_prefix("xmpp c2s listening on ") {
                    return Ok::<_, anyhow::Error>(a.to_owned());
                }
            }
            bail!("server exited before listening")
        })
        .await
        .map_err(|_| anyhow!("server did not start"))??;
        start_s = Some((now_us() - t0) as f64 / 1e6);
        target = Target::Tcp(addr);
        child = Some((c, lines));
    }
    let mut x = Xmpp::login(&target, &env.domain, user, &env.password).await?;
    let first_login_s = (now_us() - t0) as f64 / 1e6;
    let t = now_us();
    let r = x
        .iq_ok(
            &format!("<iq xmlns='jabber:client' type='get' to='{}' id='l1'><subscriptions xmlns='urn:xmpp:mucsub:0'/></iq>", env.muc),
            "l1",
        )
        .await?;
    let list_ms = (now_us() - t) as f64 / 1e3;
    let subscriptions = r
        .get_child("subscriptions", "urn:xmpp:mucsub:0")
        .map(|s| s.children().filter(|c| c.name() == "subscription").count())
        .unwrap_or(0);
    let rss = pid.and_then(crate::measure::proc_sample).map(|s| s.rss_mb);
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let rss_idle = pid.and_then(crate::measure::proc_sample).map(|s| s.rss_mb);
    drop(x);
    if let Some((mut c, _)) = child {
        // SIGTERM (graceful), then reap; kill_on_drop covers a server that ignores it.
        if let Some(id) = c.id() {
            let _ = std::process::Command::new("kill")
                .arg(id.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), c.wait()).await;
    }
    Ok(IdleResult {
        scenario: "idle",
        start_s,
        first_login_s,
        list_ms,
        subscriptions,
        server_rss_mb: rss,
        server_rss_idle_mb: rss_idle,
    })
}
