//! One client connection from the stream header to the end: STARTTLS, SASL, resource
//! binding, then the session loop that stamps and routes the client's stanzas and writes
//! what the router sends it.

use super::{iq, RecvError, Transport};
use crate::auth::{self, Exchange, Failure, Prefetched, Step};
use crate::ns;
use crate::stanza::{self, ErrorType, Outgoing};
use crate::xmlstream::{Limits, StreamEvent, XmlError};
use crate::ServerContext;
use minidom::Element;
use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio::time::Instant;

const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Most queued stanzas written to a connection at once.
const SEND_BURST: usize = 64;

/// How a stream ends.
#[derive(Debug)]
enum End {
    /// The client closed the stream: answer with our footer.
    Closed,
    /// The connection is gone; nothing more to write.
    Gone,
    /// Send this stream error (RFC 6120 4.9.3), then the footer.
    Error(&'static str, Option<String>),
    /// Server shutdown: footer only.
    Shutdown,
}

impl From<XmlError> for End {
    fn from(e: XmlError) -> End {
        End::Error(e.condition(), Some(e.to_string()))
    }
}

struct Conn<'a, T: Transport> {
    ctx: &'a ServerContext,
    t: T,
    header_sent: bool,
    deadline: Option<Instant>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl<'a, T: Transport> Conn<'a, T> {
    /// A new connection that must authenticate within `wait_secs`.
    fn new(ctx: &'a ServerContext, t: T, wait_secs: u64) -> Self {
        Conn {
            ctx,
            t,
            header_sent: false,
            deadline: Some(Instant::now() + std::time::Duration::from_secs(wait_secs)),
            shutdown: ctx.shutdown.clone(),
        }
    }
}

/// Runs a connection to its end.
pub async fn run<T: Transport>(ctx: ServerContext, t: T) {
    let mut c = Conn::new(&ctx, t, ctx.config.limits.pre_auth_timeout_secs);
    let end = match c.negotiate().await {
        Ok(user) => c.bind_and_serve(user).await,
        Err(end) => end,
    };
    c.finish(end).await;
}

/// Answers a connection over `[limits] max_connections_per_ip` with a stream error once
/// it opened its stream. `policy-violation` (RFC 6120 4.9.3.12) is the local-policy
/// condition; `resource-constraint` would claim the whole server is out of resources, and
/// `connection-timeout` is for idle streams.
pub async fn refuse_too_many<T: Transport>(ctx: ServerContext, t: T) {
    // Short: a flood of refused connections must not pile up waiting tasks.
    let mut c = Conn::new(&ctx, t, ctx.config.limits.pre_auth_timeout_secs.min(5));
    c.t.set_limits(pre_auth_limits(&ctx));
    // Reading the client's header first means its bytes are consumed before we close, so
    // the error is not lost to a TCP reset.
    let end = match c.next().await {
        Next::Event(StreamEvent::Open(_)) => End::Error(
            "policy-violation",
            Some(format!(
                "too many connections from this address (at most {})",
                ctx.config.limits.max_connections_per_ip
            )),
        ),
        Next::Event(_) => End::Error("not-well-formed", None),
        Next::End(e) => e,
    };
    c.finish(end).await;
}

fn pre_auth_limits(ctx: &ServerContext) -> Limits {
    Limits {
        max_stanza: ctx.config.limits.max_stanza_pre_auth,
        max_depth: ctx.config.limits.max_depth,
    }
}

pub(crate) fn post_auth_limits(ctx: &ServerContext) -> Limits {
    Limits {
        max_stanza: ctx.config.limits.max_stanza,
        max_depth: ctx.config.limits.max_depth,
    }
}

/// What the pre-session read loop yields.
enum Next {
    Event(StreamEvent),
    End(End),
}

impl<T: Transport> Conn<'_, T> {
    async fn send(&mut self, data: &str) -> Result<(), End> {
        // A client that stops reading must not hold its session (and shutdown) forever.
        match tokio::time::timeout(WRITE_TIMEOUT, self.t.send(data)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn send_many(&mut self, items: &[String]) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.t.send_many(items)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn send_el(&mut self, el: &Element) -> Result<(), End> {
        let xml = stanza::to_xml(el);
        self.send(&xml).await
    }

    /// Reads the next event, honouring the pre-auth deadline and server shutdown.
    async fn next(&mut self) -> Next {
        let deadline = self.deadline;
        let recv = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, self.t.recv()).await.ok(),
                None => Some(self.t.recv().await),
            }
        };
        tokio::select! {
            r = recv => match r {
                None => Next::End(End::Error("connection-timeout", None)),
                Some(Ok(Some(ev))) => Next::Event(ev),
                Some(Ok(None)) => Next::End(End::Gone),
                Some(Err(RecvError::Xml(e))) => Next::End(e.into()),
                Some(Err(RecvError::Io(_))) => Next::End(End::Gone),
            },
            _ = self.shutdown.changed() => Next::End(End::Shutdown),
        }
    }

    /// Waits for the client's stream header and answers with ours and `features`.
    async fn open_stream(&mut self, features: Element) -> Result<(), End> {
        let attrs = match self.next().await {
            Next::Event(StreamEvent::Open(a)) => a,
            Next::Event(_) => return Err(End::Error("not-well-formed", None)),
            Next::End(e) => return Err(e),
        };
        let id = format!("{:016x}", rand::random::<u64>());
        let header = self.t.header(&id, &self.ctx.config.domain);
        self.send(&header).await?;
        self.header_sent = true;
        match attrs.get("to") {
            Some(to) if to.to_ascii_lowercase() == self.ctx.config.domain => {}
            _ => return Err(End::Error("host-unknown", None)),
        }
        if attrs.get("version").map(String::as_str) != Some("1.0") {
            return Err(End::Error("unsupported-version", None));
        }
        self.send_el(&features).await
    }

    fn security(&self) -> Security {
        Security {
            can_starttls: self.t.can_starttls(),
            secure: self.t.is_secure(),
            loopback: self.t.is_loopback(),
            tls_required: self.ctx.config.tls.required,
        }
    }

    fn plain_allowed(&self) -> bool {
        self.security().plain_allowed()
    }

    fn auth_allowed(&self) -> bool {
        self.security().auth_allowed()
    }

    fn pre_auth_features(&self) -> Element {
        pre_auth_features(self.security(), self.ctx.config.registration)
    }

    /// STARTTLS and SASL; returns the authenticated account's localpart.
    async fn negotiate(&mut self) -> Result<String, End> {
        self.t.set_limits(pre_auth_limits(self.ctx));
        let mut failures = 0u32;
        'stream: loop {
            let features = self.pre_auth_features();
            self.open_stream(features).await?;
            loop {
                let el = match self.next().await {
                    Next::Event(StreamEvent::Stanza(el)) => el,
                    Next::Event(StreamEvent::Close) => return Err(End::Closed),
                    Next::Event(StreamEvent::Open(_)) => {
                        return Err(End::Error("not-well-formed", None))
                    }
                    Next::End(e) => return Err(e),
                };
                if el.is("starttls", ns::TLS) {
                    if !self.t.can_starttls() {
                        self.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                            .await?;
                        return Err(End::Gone);
                    }
                    self.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                        .await?;
                    if let Err(e) = self.t.starttls().await {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return Err(End::Gone);
                    }
                    continue 'stream;
                }
                if el.is("auth", ns::SASL) {
                    match self.sasl(&el).await? {
                        Some(user) => {
                            self.t.set_limits(post_auth_limits(self.ctx));
                            self.t.restart();
                            return Ok(user);
                        }
                        None => {
                            failures += 1;
                            if failures >= self.ctx.config.limits.max_auth_failures {
                                return Err(End::Error(
                                    "policy-violation",
                                    Some("too many failed authentication attempts".into()),
                                ));
                            }
                            continue;
                        }
                    }
                }
                if el.is("iq", ns::CLIENT)
                    && el.has_child("query", ns::REGISTER)
                    && self.ctx.config.registration
                    && self.plain_allowed()
                {
                    let reply = iq::register(self.ctx, &el).await;
                    self.send_el(&reply).await?;
                    continue;
                }
                // RFC 6120 6.4.x: anything else before authentication.
                return Err(End::Error("not-authorized", None));
            }
        }
    }

    async fn sasl_failure(&mut self, f: Failure) -> Result<(), End> {
        let xml = format!(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{}/></failure>",
            f.condition()
        );
        self.send(&xml).await
    }

    /// One SASL exchange: `Some(user)` on success, `None` after a `<failure/>`.
    async fn sasl(&mut self, auth_el: &Element) -> Result<Option<String>, End> {
        let mech = auth_el.attr("mechanism").unwrap_or("").to_owned();
        if !self.auth_allowed() {
            self.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>")
                .await?;
            return Ok(None);
        }
        let offered = auth::SCRAM_MECHANISMS.contains(&mech.as_str())
            || (mech == "PLAIN" && self.plain_allowed());
        if !offered {
            self.sasl_failure(Failure::InvalidMechanism).await?;
            return Ok(None);
        }
        let initial = match auth::decode_payload(&auth_el.text()) {
            Ok(p) => p,
            Err(f) => {
                self.sasl_failure(f).await?;
                return Ok(None);
            }
        };
        let Some(user) = auth::initial_username(&mech, &initial) else {
            self.sasl_failure(Failure::MalformedRequest).await?;
            return Ok(None);
        };
        let creds = match self.ctx.accounts.credentials(&user).await {
            Ok(Some(c)) => Some(c),
            Ok(None) if mech.starts_with("SCRAM-") => auth::decoy_credentials(&user),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "credential lookup failed");
                self.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><temporary-auth-failure/></failure>")
                    .await?;
                return Ok(None);
            }
        };
        let (mut ex, mut step) = match Exchange::start(&mech, &initial, Prefetched { user, creds })
        {
            Ok(x) => x,
            Err(f) => {
                self.sasl_failure(f).await?;
                return Ok(None);
            }
        };
        loop {
            match step {
                Step::Success { user, data } => {
                    let xml = format!(
                        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</success>",
                        auth::encode_payload(&data)
                    );
                    self.send(&xml).await?;
                    tracing::info!(user, mechanism = mech, "authenticated");
                    return Ok(Some(user));
                }
                Step::Challenge(c) => {
                    let xml = format!(
                        "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>",
                        auth::encode_payload(&c)
                    );
                    self.send(&xml).await?;
                    let el = match self.next().await {
                        Next::Event(StreamEvent::Stanza(el)) => el,
                        Next::Event(StreamEvent::Close) => return Err(End::Closed),
                        Next::Event(_) => return Err(End::Error("not-well-formed", None)),
                        Next::End(e) => return Err(e),
                    };
                    if el.is("abort", ns::SASL) {
                        self.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>")
                            .await?;
                        return Ok(None);
                    }
                    if !el.is("response", ns::SASL) {
                        return Err(End::Error("not-authorized", None));
                    }
                    let data = match auth::decode_payload(&el.text()) {
                        Ok(d) => d,
                        Err(f) => {
                            self.sasl_failure(f).await?;
                            return Ok(None);
                        }
                    };
                    step = match ex.step(&data) {
                        Ok(s) => s,
                        Err(f) => {
                            tracing::info!(mechanism = mech, "authentication failed");
                            self.sasl_failure(f).await?;
                            return Ok(None);
                        }
                    };
                }
            }
        }
    }

    /// After SASL: the restarted stream, resource binding, then the session loop.
    async fn bind_and_serve(&mut self, user: String) -> End {
        let mut f = Element::builder("features", ns::STREAM).build();
        f.append_child(Element::builder("bind", ns::BIND).build());
        f.append_child(
            Element::builder("session", ns::SESSION)
                .append(Element::builder("optional", ns::SESSION).build())
                .build(),
        );
        f.append_child(Element::builder("csi", NS_CSI).build());
        if let Err(e) = self.open_stream(f).await {
            return e;
        }
        let resource = loop {
            let el = match self.next().await {
                Next::Event(StreamEvent::Stanza(el)) => el,
                Next::Event(StreamEvent::Close) => return End::Closed,
                Next::Event(_) => return End::Error("not-well-formed", None),
                Next::End(e) => return e,
            };
            if !el.is("iq", ns::CLIENT) {
                return End::Error("not-authorized", Some("bind a resource first".into()));
            }
            let Some(bind) = el.get_child("bind", ns::BIND) else {
                let reply = stanza::error_reply(&el, ErrorType::Cancel, "not-allowed", None);
                if let Err(e) = self.send_el(&reply).await {
                    return e;
                }
                continue;
            };
            let requested = bind
                .get_child("resource", ns::BIND)
                .map(|r| r.text().trim().to_owned())
                .filter(|r| !r.is_empty());
            let resource = match requested {
                Some(r) if valid_resource(&r, &user, &self.ctx.config.domain) => r,
                Some(_) => {
                    let reply = stanza::error_reply(&el, ErrorType::Modify, "bad-request", None);
                    if let Err(e) = self.send_el(&reply).await {
                        return e;
                    }
                    continue;
                }
                None => format!("r{:012x}", rand::random::<u64>() >> 16),
            };
            let (tx, rx) = mpsc::channel(self.ctx.config.limits.session_queue.max(8));
            let max = self.ctx.config.limits.max_sessions_per_account;
            match self
                .ctx
                .router
                .try_register_session(&user, &resource, tx, max)
            {
                Some(reg) => break (resource, el, rx, reg),
                None => {
                    // RFC 6120 7.6.2.1: the account has as many resources as it may.
                    let text = format!("at most {max} sessions per account");
                    let reply = stanza::error_reply(
                        &el,
                        ErrorType::Wait,
                        "resource-constraint",
                        Some(&text),
                    );
                    if let Err(e) = self.send_el(&reply).await {
                        return e;
                    }
                    continue;
                }
            }
        };
        let (resource, bind_iq, rx, reg) = resource;
        self.deadline = None;
        let full = format!("{user}@{}/{resource}", self.ctx.config.domain);
        let mut result = stanza::iq_result(&bind_iq, None);
        stanza::remove_attr(&mut result, "to");
        stanza::remove_attr(&mut result, "from");
        result.append_child(
            Element::builder("bind", ns::BIND)
                .append(
                    Element::builder("jid", ns::BIND)
                        .append(full.as_str())
                        .build(),
                )
                .build(),
        );
        tracing::info!(jid = full, "session bound");
        let mut s = Session {
            user: user.clone(),
            bare: format!("{user}@{}", self.ctx.config.domain),
            full,
            id: reg.id,
            control: reg.control.clone(),
            available: false,
            directed: HashSet::new(),
        };
        let mut rx = rx;
        let end = match self.send_el(&result).await {
            Ok(()) => self.serve(&mut s, &mut rx).await,
            Err(e) => e,
        };
        self.ctx.router.unregister_session(&user, reg.id);
        s.went_unavailable(self.ctx).await;
        salvage(self.ctx, &s, rx).await;
        tracing::info!(jid = s.full, ?end, "session ended");
        end
    }

    async fn serve(&mut self, s: &mut Session, rx: &mut mpsc::Receiver<Outgoing>) -> End {
        let limits = &self.ctx.config.limits;
        let idle = std::time::Duration::from_secs(limits.keepalive_secs);
        let grace = std::time::Duration::from_secs(limits.keepalive_timeout_secs.max(1));
        let mut shaper = crate::limits::Shaper::new(limits);
        // Reading is paused until then: the client is over its rate ([limits] rate_*).
        let mut paused: Option<Instant> = None;
        // A client whose reads were paused was not idle meanwhile.
        let mut resumed = Instant::now();
        // When the last probe went out, if one is outstanding.
        let mut probing: Option<Instant> = None;
        loop {
            if probing.is_some_and(|sent| self.t.last_activity() >= sent) {
                probing = None;
            }
            let check_at = match probing {
                Some(sent) => sent + grace,
                None => self.t.last_activity().max(resumed) + idle,
            };
            tokio::select! {
                _ = tokio::time::sleep_until(paused.unwrap_or(check_at)), if paused.is_some() => {
                    paused = None;
                    resumed = Instant::now();
                }
                _ = tokio::time::sleep_until(check_at), if !idle.is_zero() && paused.is_none() => {
                    let last = self.t.last_activity().max(resumed);
                    match probing {
                        Some(sent) if last < sent => {
                            tracing::info!(jid = s.full, "no answer to the keepalive; dropping the session");
                            return End::Gone;
                        }
                        Some(_) => probing = None,
                        None if last + idle <= Instant::now() => {
                            match self.t.probe().await {
                                Ok(true) => {}
                                Ok(false) => {
                                    let ping = format!(
                                        "<iq xmlns='jabber:client' type='get' from='{}' to='{}' id='ka{:x}'>\
                                         <ping xmlns='urn:xmpp:ping'/></iq>",
                                        stanza::escape_attr(&self.ctx.config.domain),
                                        stanza::escape_attr(&s.full),
                                        rand::random::<u32>()
                                    );
                                    if let Err(e) = self.send(&ping).await {
                                        return e;
                                    }
                                }
                                Err(_) => return End::Gone,
                            }
                            probing = Some(Instant::now());
                        }
                        None => {}
                    }
                }
                r = self.t.recv(), if paused.is_none() => {
                    let el = match r {
                        Ok(Some(StreamEvent::Stanza(el))) => el,
                        Ok(Some(StreamEvent::Close)) => return End::Closed,
                        Ok(Some(StreamEvent::Open(_))) => return End::Error("not-well-formed", None),
                        Ok(None) | Err(RecvError::Io(_)) => return End::Gone,
                        Err(RecvError::Xml(e)) => return e.into(),
                    };
                    if tracing::enabled!(tracing::Level::TRACE) {
                        tracing::trace!(jid = s.full, xml = stanza::to_xml(&el), "in");
                    }
                    if let Err(e) = self.handle(s, el).await {
                        return e;
                    }
                    paused = shaper.stanza(self.t.bytes_read());
                }
                out = rx.recv() => {
                    let Some(out) = out else {
                        // A replaced session loses its queue as it is kicked: report the
                        // kick, not a vanished router.
                        return match s.control.reason() {
                            Some(cond) => End::Error(cond, None),
                            None => End::Gone,
                        };
                    };
                    let xml = match outgoing_xml(out) {
                        Ok(xml) => xml,
                        Err(cond) => return End::Error(cond, None),
                    };
                    // What else is queued already goes out in the same write: a fan-out
                    // burst then costs one syscall per session, not one per stanza.
                    let mut burst = vec![xml];
                    let mut kicked = None;
                    while burst.len() < SEND_BURST {
                        match rx.try_recv() {
                            Ok(out) => match outgoing_xml(out) {
                                Ok(xml) => burst.push(xml),
                                Err(cond) => {
                                    kicked = Some(cond);
                                    break;
                                }
                            },
                            Err(_) => break,
                        }
                    }
                    for xml in &burst {
                        tracing::trace!(jid = s.full, xml, "out");
                    }
                    if let Err(e) = self.send_many(&burst).await {
                        return e;
                    }
                    if let Some(cond) = kicked {
                        return End::Error(cond, None);
                    }
                }
                cond = s.control.kicked() => {
                    let text = (cond == "policy-violation")
                        .then(|| "the client does not read fast enough".to_owned());
                    return End::Error(cond, text);
                }
                _ = self.shutdown.changed() => {
                    // What was already routed to this session still goes out before the end.
                    while let Ok(out) = rx.try_recv() {
                        let Ok(xml) = outgoing_xml(out) else { break };
                        if self.send(&xml).await.is_err() {
                            return End::Gone;
                        }
                    }
                    return End::Shutdown;
                }
            }
        }
    }

    /// One stanza from the client.
    async fn handle(&mut self, s: &mut Session, mut el: Element) -> Result<(), End> {
        let kind = el.name().to_owned();
        if el.ns() == NS_CSI && matches!(kind.as_str(), "active" | "inactive") {
            // Stanzas still flow to an inactive session; push also fires (see the router).
            let inactive = kind == "inactive";
            self.ctx.router.set_inactive(&s.user, s.id, inactive);
            return Ok(());
        }
        if !matches!(kind.as_str(), "message" | "presence" | "iq") {
            return Err(End::Error("unsupported-stanza-type", None));
        }
        if el.ns() != ns::CLIENT {
            return Err(End::Error("invalid-namespace", None));
        }
        // The sender is whoever this session authenticated as, whatever the client wrote.
        stanza::set_attr(&mut el, "from", &s.full);
        let to = match el.attr("to") {
            None => None,
            Some(t) => match jid::Jid::new(t) {
                Ok(j) => Some(j),
                Err(_) => {
                    if stanza::may_bounce(&el) {
                        let mut reply =
                            stanza::error_reply(&el, ErrorType::Modify, "jid-malformed", None);
                        stanza::remove_attr(&mut reply, "from");
                        self.send_el(&reply).await?;
                    }
                    return Ok(());
                }
            },
        };
        if let Some(j) = &to {
            // Normalised, so routing and comparisons see one spelling.
            stanza::set_attr(&mut el, "to", &normalize_jid(j));
        }
        match kind.as_str() {
            "presence" => self.presence(s, el, to).await,
            "message" => {
                if to.is_none() {
                    stanza::set_attr(&mut el, "to", &s.bare);
                }
                self.ctx.router.route(el).await;
                Ok(())
            }
            _ => {
                let local = match &to {
                    None => true,
                    Some(j) => {
                        let bare = normalize_jid(&j.to_bare().into());
                        bare == self.ctx.config.domain || bare == s.bare
                    }
                };
                if local {
                    if let Some(reply) = iq::handle(self.ctx, s, &el).await {
                        self.send_el(&reply).await?;
                    }
                } else {
                    self.ctx.router.route(el).await;
                }
                Ok(())
            }
        }
    }

    async fn presence(
        &mut self,
        s: &mut Session,
        el: Element,
        to: Option<jid::Jid>,
    ) -> Result<(), End> {
        let ptype = el.attr("type").unwrap_or("").to_owned();
        match to {
            None => {
                match ptype.as_str() {
                    "" => {
                        let priority = el
                            .get_child("priority", ns::CLIENT)
                            .and_then(|p| p.text().trim().parse::<i32>().ok())
                            .filter(|p| (-128..=127).contains(p))
                            .unwrap_or(0);
                        if s.available {
                            self.ctx.router.set_presence(&s.user, s.id, true, priority);
                        } else {
                            s.available = true;
                            let queued = self
                                .ctx
                                .router
                                .become_available(&s.user, s.id, priority)
                                .await;
                            match queued {
                                Ok(msgs) => {
                                    let mut ids = Vec::with_capacity(msgs.len());
                                    for (id, m) in msgs {
                                        self.send_el(&m).await?;
                                        ids.push(id);
                                    }
                                    if !ids.is_empty() {
                                        tracing::debug!(
                                            n = ids.len(),
                                            jid = s.full,
                                            "delivered offline messages"
                                        );
                                    }
                                    if let Err(e) =
                                        self.ctx.router.offline_delivered(&s.user, ids).await
                                    {
                                        tracing::error!(error = %e, "could not remove delivered offline messages");
                                    }
                                }
                                Err(e) => tracing::error!(error = %e, "offline delivery failed"),
                            }
                        }
                    }
                    "unavailable" => {
                        s.went_unavailable(self.ctx).await;
                    }
                    // Subscription management needs a roster, which this server does not keep.
                    _ => {}
                }
                Ok(())
            }
            Some(j) => {
                let domain = j.domain().as_str().to_ascii_lowercase();
                if domain != self.ctx.config.domain {
                    // Directed presence to a room (or elsewhere): remember it, so the room
                    // learns when this session goes away.
                    let target = normalize_jid(&j);
                    match ptype.as_str() {
                        "" => {
                            s.directed.insert(target);
                        }
                        "unavailable" => {
                            s.directed.remove(&target);
                        }
                        _ => {}
                    }
                }
                self.ctx.router.route(el).await;
                Ok(())
            }
        }
    }

    /// Ends the stream as `end` says and closes the connection.
    async fn finish(&mut self, end: End) {
        match end {
            End::Gone => {}
            End::Closed | End::Shutdown => {
                if !self.header_sent {
                    let h = self.t.header("closing", &self.ctx.config.domain);
                    let _ = self.t.send(&h).await;
                }
                let footer = self.t.footer();
                let _ = self.t.send(footer).await;
            }
            End::Error(cond, text) => {
                tracing::debug!(condition = cond, text, "stream error");
                if !self.header_sent {
                    let h = self.t.header("error", &self.ctx.config.domain);
                    let _ = self.t.send(&h).await;
                }
                let mut xml = format!(
                    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>\
                     <{cond} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                );
                if let Some(t) = text {
                    xml.push_str(&format!(
                        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{}</text>",
                        stanza::escape_attr(&t)
                    ));
                }
                xml.push_str("</stream:error>");
                let _ = self.t.send(&xml).await;
                let footer = self.t.footer();
                let _ = self.t.send(footer).await;
            }
        }
        self.t.shutdown().await;
    }
}

/// XEP-0352 Client State Indication.
const NS_CSI: &str = "urn:xmpp:csi:0";

/// What a connection's security allows before authentication.
#[derive(Debug, Clone, Copy)]
struct Security {
    can_starttls: bool,
    secure: bool,
    loopback: bool,
    tls_required: bool,
}

impl Security {
    /// PLAIN sends the password itself: only over TLS or on loopback.
    fn plain_allowed(self) -> bool {
        self.secure || self.loopback
    }

    /// With `tls.required`, remote peers must STARTTLS before any SASL.
    fn auth_allowed(self) -> bool {
        self.plain_allowed() || !self.tls_required
    }
}

fn pre_auth_features(sec: Security, registration: bool) -> Element {
    let mut f = Element::builder("features", ns::STREAM).build();
    if sec.can_starttls {
        let mut st = Element::builder("starttls", ns::TLS).build();
        if !sec.auth_allowed() {
            st.append_child(Element::builder("required", ns::TLS).build());
        }
        f.append_child(st);
    }
    if sec.auth_allowed() {
        let mut mechs = Element::builder("mechanisms", ns::SASL).build();
        let mut names: Vec<&str> = auth::SCRAM_MECHANISMS.to_vec();
        if sec.plain_allowed() {
            names.push("PLAIN");
        }
        for m in names {
            mechs.append_child(Element::builder("mechanism", ns::SASL).append(m).build());
        }
        f.append_child(mechs);
        if registration && sec.plain_allowed() {
            f.append_child(Element::builder("register", ns::REGISTER_FEATURE).build());
        }
    }
    f
}

/// A bound session's state.
pub(crate) struct Session {
    pub user: String,
    pub bare: String,
    pub full: String,
    pub id: u64,
    control: std::sync::Arc<crate::router::SessionControl>,
    pub available: bool,
    /// Full JIDs on other domains (MUC rooms) this session sent available presence to.
    pub directed: HashSet<String>,
}

impl Session {
    /// Broadcast unavailable: tell every room we are in, mark us unavailable.
    async fn went_unavailable(&mut self, ctx: &ServerContext) {
        ctx.router.set_presence(&self.user, self.id, false, 0);
        self.available = false;
        for target in std::mem::take(&mut self.directed) {
            let mut p = Element::builder("presence", ns::CLIENT).build();
            stanza::set_attr(&mut p, "from", &self.full);
            stanza::set_attr(&mut p, "to", &target);
            stanza::set_attr(&mut p, "type", "unavailable");
            ctx.router.route(p).await;
        }
    }
}

/// Messages still queued for a session that ended were never written: the ones worth
/// keeping go to the account's other resources or, when there is none, offline storage.
async fn salvage(ctx: &ServerContext, s: &Session, mut rx: mpsc::Receiver<Outgoing>) {
    rx.close();
    while let Ok(out) = rx.try_recv() {
        let Outgoing::Stanza(el) = out else { continue };
        if el.name() != "message" || !matches!(el.attr("type"), None | Some("chat" | "normal")) {
            continue;
        }
        if !(el.has_child("body", ns::CLIENT) || is_storable_event(&el)) {
            continue;
        }
        // A copy sent to the bare JID already reached every other available resource.
        let to_this_resource = el.attr("to").is_some_and(|t| t.contains('/'));
        if !to_this_resource && ctx.router.receives_bare(&s.bare) {
            continue;
        }
        ctx.router.deliver_to_account(&s.bare, el, true).await;
    }
}

/// A MucSub wrapper on the `messages` or `subject` node.
fn is_storable_event(el: &Element) -> bool {
    el.get_child("event", "http://jabber.org/protocol/pubsub#event")
        .and_then(|e| e.get_child("items", "http://jabber.org/protocol/pubsub#event"))
        .and_then(|i| i.attr("node"))
        .is_some_and(|n| {
            n == "urn:xmpp:mucsub:nodes:messages" || n == "urn:xmpp:mucsub:nodes:subject"
        })
}

/// The text to write for a queued item; `Err(condition)` for a kick.
fn outgoing_xml(out: Outgoing) -> Result<String, &'static str> {
    match out {
        Outgoing::Stanza(el) => Ok(stanza::to_xml(&el)),
        Outgoing::Xml(x) => Ok(x.to_string()),
        Outgoing::Template(t, to) => Ok(t.render(&to)),
        Outgoing::Kick(cond) => Err(cond),
    }
}

fn valid_resource(r: &str, user: &str, domain: &str) -> bool {
    r.len() <= 1023
        && !r.chars().any(|c| c.is_control())
        && jid::FullJid::new(&format!("{user}@{domain}/{r}")).is_ok()
}

/// Lower-cases node and domain (the resource is case-sensitive).
pub fn normalize_jid(j: &jid::Jid) -> String {
    let mut s = String::new();
    if let Some(n) = j.node() {
        s.push_str(&n.as_str().to_lowercase());
        s.push('@');
    }
    s.push_str(&j.domain().as_str().to_ascii_lowercase());
    if let Some(r) = j.resource() {
        s.push('/');
        s.push_str(r.as_str());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mechs(f: &Element) -> Vec<String> {
        f.get_child("mechanisms", ns::SASL)
            .map(|m| m.children().map(|c| c.text()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn plain_only_over_tls_or_loopback() {
        let remote_plain = Security {
            can_starttls: true,
            secure: false,
            loopback: false,
            tls_required: true,
        };
        let f = pre_auth_features(remote_plain, true);
        assert!(f
            .get_child("starttls", ns::TLS)
            .unwrap()
            .has_child("required", ns::TLS));
        assert!(
            mechs(&f).is_empty(),
            "no SASL before TLS from a remote peer"
        );
        assert!(!f.has_child("register", ns::REGISTER_FEATURE));

        let relaxed = Security {
            tls_required: false,
            ..remote_plain
        };
        let f = pre_auth_features(relaxed, false);
        assert!(!f
            .get_child("starttls", ns::TLS)
            .unwrap()
            .has_child("required", ns::TLS));
        assert_eq!(mechs(&f), vec!["SCRAM-SHA-256", "SCRAM-SHA-1"]);

        let remote_tls = Security {
            can_starttls: false,
            secure: true,
            ..remote_plain
        };
        let f = pre_auth_features(remote_tls, false);
        assert!(!f.has_child("starttls", ns::TLS));
        assert_eq!(mechs(&f), vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);

        let loopback = Security {
            loopback: true,
            ..remote_plain
        };
        assert_eq!(mechs(&pre_auth_features(loopback, false)).len(), 3);
    }
}
