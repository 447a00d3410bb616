//! `mucsub-wake`: how long a client takes to get back online, on loopback, with a raw
//! client, by way of each sign-in path — and how many round trips each costs:
//!
//! - `full`: TCP, stream header, SASL PLAIN, stream restart, bind (RFC 6120);
//! - `resume`: TCP, stream header, SASL PLAIN, stream restart, XEP-0198 `<resume/>`
//!   (a session left waiting by a dropped connection, set up untimed before each run);
//! - `fast-resume`: TCP, stream header, then one SASL2 `<authenticate/>` with a FAST token
//!   (`HT-SHA-256-NONE`), an inline `<resume/>` and a Bind 2 fallback (XEP-0388, -0386,
//!   -0484), answered by `<success/>` with `<resumed/>`;
//! - `fast-resume-pipelined`: the same, with the `<authenticate/>` written together with
//!   the stream header (a client that kept the server's features from its last connection,
//!   as XEP-0388 §2.1 allows): one round trip once the socket is open;
//! - `fast-resume-counted`: `fast-resume` with XEP-0484's `count` (what a TLS 0-RTT client
//!   sends): the server commits the count before it answers.
//!
//! A round trip is a write the client must wait on before it can go on; the TCP handshake
//! is not counted (every path pays it). Timing runs from before `connect` to the answer
//! that completes the path. Prints one JSON line per path.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use minidom::Element;
use mucsub_protocol::bind2::BindRequest;
use mucsub_protocol::fast::{initial_response, FastAuth, HT_SHA_256_NONE};
use mucsub_protocol::sasl2::{Authenticate, Success, UserAgent};
use mucsub_protocol::sm::{Enable, Resume};
use mucsub_server::testkit::{Mech, RawClient, Resumption, Sasl2Login, TEST_DEVICE};

#[derive(Parser)]
#[command(
    name = "mucsub-wake",
    about = "Time to get back online, by sign-in path"
)]
struct Cli {
    /// The server's c2s address (plain TCP on loopback).
    #[arg(long)]
    target: SocketAddr,
    /// A label for the output (mucsub, ejabberd).
    #[arg(long)]
    label: String,
    #[arg(long, default_value = "alice")]
    user: String,
    #[arg(long, default_value = "pw")]
    password: String,
    /// Paths to run, comma-separated: full,resume,fast-resume,fast-resume-pipelined,
    /// fast-resume-counted.
    #[arg(
        long,
        default_value = "full,resume,fast-resume,fast-resume-pipelined,fast-resume-counted"
    )]
    paths: String,
    #[arg(long, default_value_t = 200)]
    iterations: usize,
}

struct Run {
    samples: Vec<Duration>,
    round_trips: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    for path in cli.paths.split(',').map(str::trim) {
        let run = match path {
            "full" => full(&cli).await?,
            "resume" => resume(&cli).await?,
            "fast-resume" => fast_resume(&cli, false, false).await?,
            "fast-resume-pipelined" => fast_resume(&cli, true, false).await?,
            "fast-resume-counted" => fast_resume(&cli, false, true).await?,
            other => bail!("unknown path {other}"),
        };
        let mut ms: Vec<f64> = run.samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        println!(
            "{}",
            serde_json::json!({
                "at": mucsub_server::time::xep82(mucsub_server::time::now_millis()),
                "server": cli.label,
                "path": path,
                "iterations": ms.len(),
                "round_trips_after_connect": run.round_trips,
                "p50_ms": (q(0.5) * 1000.0).round() / 1000.0,
                "p90_ms": (q(0.9) * 1000.0).round() / 1000.0,
                "min_ms": (ms[0] * 1000.0).round() / 1000.0,
            })
        );
    }
    Ok(())
}

/// Waits for the stream header and features (one round trip with what was sent).
async fn features(c: &mut RawClient) -> Element {
    c.read_features().await
}

/// Connect, stream header, SASL PLAIN, stream restart: three round trips.
async fn plain_authenticated(cli: &Cli) -> Result<RawClient> {
    let mut c = RawClient::connect_tcp(cli.target).await;
    c.open().await;
    features(&mut c).await; // 1
    c.authenticate(&cli.user, &cli.password, Mech::Plain)
        .await
        .map_err(|e| anyhow!("PLAIN: {e}"))?; // 2
    c.open().await;
    features(&mut c).await; // 3
    Ok(c)
}

async fn full(cli: &Cli) -> Result<Run> {
    let mut samples = Vec::new();
    for i in 0..cli.iterations {
        let t = Instant::now();
        let mut c = plain_authenticated(cli).await?;
        c.bind(Some(&format!("wake{i}"))).await; // 4
        samples.push(t.elapsed());
        c.close().await;
    }
    Ok(Run {
        samples,
        round_trips: 4,
    })
}

/// A session with stream management, left waiting by a dropped connection: its SM-ID.
async fn waiting_session(cli: &Cli, i: usize) -> Result<String> {
    let mut c = RawClient::login_tcp(
        cli.target,
        &cli.user,
        &cli.password,
        Mech::Plain,
        None,
        Some(&format!("r{i}")),
    )
    .await
    .map_err(|e| anyhow!("login: {e}"))?;
    let enabled = c.enable_sm().await;
    let id = enabled.id.context("no SM-ID: resumption is off")?;
    c.request_ack().await;
    c.disconnect();
    // Let the server notice the closed socket.
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(id)
}

async fn resume(cli: &Cli) -> Result<Run> {
    let mut samples = Vec::new();
    for i in 0..cli.iterations {
        let previd = waiting_session(cli, i).await?;
        let t = Instant::now();
        let mut c = plain_authenticated(cli).await?;
        let r = c.resume(&previd, 0).await; // 4
        samples.push(t.elapsed());
        if !matches!(r, Resumption::Resumed(_)) {
            bail!("resumption refused: {r:?}");
        }
        c.close().await;
    }
    Ok(Run {
        samples,
        round_trips: 4,
    })
}

async fn fast_resume(cli: &Cli, pipelined: bool, counted: bool) -> Result<Run> {
    // A token, once, with the password.
    let mut login = Sasl2Login::plain(&cli.user, &cli.password);
    login.request_token = true;
    login.bind = None;
    let (c, r) = RawClient::sasl2_tcp(cli.target, &login).await;
    let token = r
        .map_err(|f| anyhow!("SASL2: {}", f.condition))?
        .token
        .context("no FAST token")?
        .token;
    c.close().await;
    // The first use of a new token retires the password sign-in's: not part of a wake.
    warm_up(cli, &token).await?;
    let mut samples = Vec::new();
    for i in 0..cli.iterations {
        let previd = waiting_session(cli, i).await?;
        let request = Element::from(Authenticate {
            mechanism: HT_SHA_256_NONE.into(),
            initial_response: Some(initial_response(&cli.user, &token, b"")),
            user_agent: Some(UserAgent {
                id: Some(TEST_DEVICE.into()),
                software: Some("mucsub-wake".into()),
                device: None,
            }),
            resume: Some(Resume { previd, h: 0 }),
            bind: Some(BindRequest {
                tag: Some("wake".into()),
                sm: Some(Enable {
                    resume: true,
                    max: None,
                }),
                inactive: None,
            }),
            request_token: None,
            fast: Some(FastAuth {
                count: counted.then_some(i as u32 + 1),
                invalidate: false,
            }),
        });
        let t = Instant::now();
        let mut c = RawClient::connect_tcp(cli.target).await;
        c.open().await;
        if !pipelined {
            features(&mut c).await; // 1
        }
        c.send_el(&request).await;
        if pipelined {
            features(&mut c).await;
        }
        let answer = c.recv().await; // 2, or 1 when pipelined
        samples.push(t.elapsed());
        let success = Success::try_from(answer).map_err(|e| anyhow!("not a success: {e}"))?;
        if success.resumed.is_none() {
            bail!("not resumed: {success:?}");
        }
        c.close().await;
    }
    Ok(Run {
        samples,
        round_trips: if pipelined { 1 } else { 2 },
    })
}

/// Signs in once with a new token (its first use moves it to the device's current slot).
async fn warm_up(cli: &Cli, token: &str) -> Result<()> {
    let mut login = Sasl2Login::token(&cli.user, token, None);
    login.bind = None;
    let (c, r) = RawClient::sasl2_tcp(cli.target, &login).await;
    r.map_err(|f| anyhow!("first token use: {}", f.condition))?;
    c.close().await;
    Ok(())
}
