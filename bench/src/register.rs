//! Creating benchmark accounts: XEP-0077 in-band registration (our server with
//! `registration = true`), or ejabberd's HTTP API (`/api/register`), which ejabberd does not
//! rate-limit per IP the way its in-band registration does.

use anyhow::{anyhow, bail, Context, Result};
use mucsub::session::framing::{Frame, Framing, TcpFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::xmpp::{esc, Target, STEP_TIMEOUT};

/// How accounts get created.
#[derive(Debug, Clone)]
pub enum Registrar {
    /// In-band registration on the XMPP target (plain TCP only).
    InBand,
    /// ejabberd `mod_http_api` base URL, e.g. `http://127.0.0.1:15280/api`.
    EjabberdApi(String),
    /// Accounts exist already.
    None,
}

impl Registrar {
    pub fn parse(s: &str) -> Result<Registrar> {
        match s {
            "inband" => Ok(Registrar::InBand),
            "none" => Ok(Registrar::None),
            u if u.starts_with("http://") => {
                Ok(Registrar::EjabberdApi(u.trim_end_matches('/').to_owned()))
            }
            _ => bail!("--register must be inband, none or an http:// ejabberd API URL"),
        }
    }
}

/// Creates every account in `users` (an existing account is fine), `parallel` at a time.
pub async fn ensure_accounts(
    reg: &Registrar,
    target: &Target,
    domain: &str,
    users: &[String],
    password: &str,
    parallel: usize,
) -> Result<()> {
    let mut set = tokio::task::JoinSet::new();
    let mut it = users.iter().cloned();
    loop {
        while set.len() < parallel.max(1) {
            let Some(u) = it.next() else { break };
            let (reg, target, domain, pw) = (
                reg.clone(),
                target.clone(),
                domain.to_owned(),
                password.to_owned(),
            );
            set.spawn_local(async move {
                tokio::time::timeout(STEP_TIMEOUT, register_one(&reg, &target, &domain, &u, &pw))
                    .await
                    .map_err(|_| anyhow!("registering {u} timed out"))?
            });
        }
        match set.join_next().await {
            Some(r) => r??,
            None => return Ok(()),
        }
    }
}

async fn register_one(
    reg: &Registrar,
    target: &Target,
    domain: &str,
    user: &str,
    pw: &str,
) -> Result<()> {
    match reg {
        Registrar::None => Ok(()),
        Registrar::EjabberdApi(base) => {
            let body =
                serde_json::json!({"user": user, "host": domain, "password": pw}).to_string();
            let (status, text) = http_post(&format!("{base}/register"), &body).await?;
            if status == 200 || text.contains("already registered") {
                Ok(())
            } else {
                bail!("ejabberd API register {user}: HTTP {status} {text}")
            }
        }
        Registrar::InBand => {
            let Target::Tcp(addr) = target else {
                bail!("in-band registration needs a tcp:// target")
            };
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(Framing::Tcp.open(domain).as_bytes()).await?;
            let mut framer = TcpFramer::new(1 << 20);
            let mut buf = [0u8; 8192];
            let mut sent = false;
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    bail!("server closed the stream while registering {user}");
                }
                for f in framer.feed(&buf[..n]).map_err(|e| anyhow!("{e}"))? {
                    let Frame::Element(e) = f else { continue };
                    if e.name() == "features" && !sent {
                        let iq = format!(
                            "<iq xmlns='jabber:client' type='set' id='reg1'><query xmlns='jabber:iq:register'><username>{}</username><password>{}</password></query></iq>",
                            esc(user),
                            esc(pw)
                        );
                        s.write_all(iq.as_bytes()).await?;
                        sent = true;
                    } else if e.name() == "iq" && e.attr("id") == Some("reg1") {
                        let ok = e.attr("type") == Some("result")
                            || e.get_child("error", "jabber:client")
                                .is_some_and(|er| er.children().any(|c| c.name() == "conflict"));
                        let _ = s.write_all(Framing::Tcp.close().as_bytes()).await;
                        if ok {
                            return Ok(());
                        }
                        bail!(
                            "in-band registration of {user} refused: {}",
                            mucsub::session::framing::serialize(&e)
                        );
                    } else if e.name() == "error" {
                        bail!("stream error while registering {user} (is registration enabled?)");
                    }
                }
            }
        }
    }
}

/// A minimal HTTP/1.1 POST on loopback (the only HTTP the generator needs).
pub async fn http_post(url: &str, body: &str) -> Result<(u16, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("http:// URL expected")?;
    let (hostport, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = TcpStream::connect(hostport).await?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad HTTP response from {url}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
