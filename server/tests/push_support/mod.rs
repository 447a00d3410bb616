//! A loopback RFC 8030 push service standing in for a browser vendor's (the one boundary
//! these tests cannot reach): it checks each push's VAPID JWT (signature, `aud`, `exp`,
//! `sub`, and that `k` is the server's published key), requires `aes128gcm`, and decrypts
//! the payload with the subscription's private keys, as the browser would.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use mucsub_server::push::webpush::{self, b64url};
use mucsub_server::push::Push;
use mucsub_server::testkit::TestServer;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::SecretKey;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The running server's push module: it registered itself at startup, and is found by
/// its type among what the modules provided.
pub fn push_of(s: &TestServer) -> &Push {
    s.ctx()
        .extensions()
        .get::<Push>()
        .expect("the push module started")
}

/// One push as the push service saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub subscription: String,
    /// The decrypted payload.
    pub plaintext: String,
    pub json: serde_json::Value,
    pub ttl: Option<String>,
    pub topic: Option<String>,
    pub urgency: Option<String>,
    /// What the push service answered.
    pub status: u16,
}

/// A browser subscription: its endpoint on this push service and its private keys.
#[derive(Clone)]
pub struct Subscription {
    pub id: String,
    pub endpoint: String,
    pub secret: SecretKey,
    pub auth: [u8; 16],
}

impl Subscription {
    pub fn p256dh(&self) -> String {
        b64url(self.secret.public_key().to_encoded_point(false).as_bytes())
    }

    pub fn auth_b64(&self) -> String {
        b64url(&self.auth)
    }

    /// Registers this subscription over XMPP (XEP-0357 enable, node = its id) and checks
    /// that the server accepted it.
    pub async fn enable(
        &self,
        c: &mut mucsub_server::testkit::RawClient,
        service: &str,
        include_body: bool,
    ) {
        let iq = self.enable_iq(service, &self.id, include_body);
        c.send_el(&iq).await;
        let reply = c.expect_iq(iq.attr("id").unwrap()).await;
        assert_eq!(
            reply.attr("type"),
            Some("result"),
            "expected a result: {}",
            String::from(&reply)
        );
    }

    /// The XEP-0357 enable IQ a client sends for this subscription.
    pub fn enable_iq(&self, service: &str, node: &str, include_body: bool) -> minidom::Element {
        format!(
            "<iq xmlns='jabber:client' type='set' id='en-{node}'>\
             <enable xmlns='urn:xmpp:push:0' jid='{service}' node='{node}'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='endpoint'><value>{}</value></field>\
             <field var='p256dh'><value>{}</value></field>\
             <field var='auth'><value>{}</value></field>\
             <field var='include-body'><value>{}</value></field>\
             </x></enable></iq>",
            self.endpoint,
            self.p256dh(),
            self.auth_b64(),
            include_body
        )
        .parse()
        .expect("well-formed enable IQ")
    }
}

struct Inner {
    origin: String,
    expected_key: Mutex<Option<String>>,
    subs: Mutex<HashMap<String, Subscription>>,
    /// Statuses to answer, in order; 201 once empty.
    script: Mutex<VecDeque<u16>>,
    tx: mpsc::UnboundedSender<Result<Received, String>>,
}

pub struct PushService {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    rx: mpsc::UnboundedReceiver<Result<Received, String>>,
}

impl PushService {
    pub async fn start() -> PushService {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            origin: format!("http://{addr}"),
            expected_key: Mutex::new(None),
            subs: Mutex::new(HashMap::new()),
            script: Mutex::new(VecDeque::new()),
            tx,
        });
        let app = axum::Router::new()
            .route("/wpush/{id}", axum::routing::post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PushService { addr, inner, rx }
    }

    /// Only pushes signed with this VAPID public key are accepted.
    pub fn expect_vapid_key(&self, key: &str) {
        *self.inner.expected_key.lock().unwrap() = Some(key.to_string());
    }

    /// A new browser subscription on this push service.
    pub fn subscribe(&self, id: &str) -> Subscription {
        let s = Subscription {
            id: id.to_string(),
            endpoint: format!("{}/wpush/{id}", self.inner.origin),
            secret: webpush::random_secret(),
            auth: rand::random(),
        };
        self.inner
            .subs
            .lock()
            .unwrap()
            .insert(id.to_string(), s.clone());
        s
    }

    /// The next answers, in order (then 201 again).
    pub fn script(&self, statuses: &[u16]) {
        self.inner.script.lock().unwrap().extend(statuses);
    }

    /// The next push; panics on a push that failed verification or after a generous
    /// timeout (which only guards against a hang).
    pub async fn next(&mut self) -> Received {
        match tokio::time::timeout(Duration::from_secs(30), self.rx.recv()).await {
            Ok(Some(Ok(r))) => r,
            Ok(Some(Err(e))) => panic!("push service rejected a push: {e}"),
            Ok(None) => panic!("push service stopped"),
            Err(_) => panic!("no push arrived within 30 s"),
        }
    }

    /// Pushes that arrived so far and were not taken with `next`.
    pub fn drain(&mut self) -> Vec<Result<Received, String>> {
        let mut out = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            out.push(r);
        }
        out
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(String::from)
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let retry = [("retry-after", "0")];
    let checked = check(&inner, &id, &headers, &body);
    match checked {
        Err(e) => {
            let _ = inner.tx.send(Err(e));
            (StatusCode::BAD_REQUEST, retry)
        }
        Ok(mut r) => {
            let status = inner.script.lock().unwrap().pop_front().unwrap_or(201);
            r.status = status;
            let _ = inner.tx.send(Ok(r));
            (StatusCode::from_u16(status).unwrap(), retry)
        }
    }
}

fn check(inner: &Inner, id: &str, headers: &HeaderMap, body: &[u8]) -> Result<Received, String> {
    let sub = inner
        .subs
        .lock()
        .unwrap()
        .get(id)
        .cloned()
        .ok_or_else(|| format!("unknown subscription {id}"))?;
    let auth = header(headers, "authorization").ok_or("no Authorization")?;
    let now = mucsub_server::time::now_millis() / 1000;
    let (key, claims) =
        webpush::verify_authorization(&auth, &inner.origin, now).map_err(|e| e.to_string())?;
    if let Some(expected) = inner.expected_key.lock().unwrap().as_deref() {
        if key != expected {
            return Err(format!("VAPID key {key} is not the server's {expected}"));
        }
    }
    if claims.sub.is_empty() {
        return Err("no sub claim".into());
    }
    if header(headers, "content-encoding").as_deref() != Some("aes128gcm") {
        return Err("Content-Encoding is not aes128gcm".into());
    }
    let ttl = header(headers, "ttl");
    if ttl.as_deref().and_then(|t| t.parse::<u64>().ok()).is_none() {
        return Err("TTL missing or not a number (RFC 8030 §5.2)".into());
    }
    let plain = webpush::decrypt(body, &sub.secret, &sub.auth).map_err(|e| e.to_string())?;
    let plaintext = String::from_utf8(plain).map_err(|_| "payload is not UTF-8".to_string())?;
    let json = serde_json::from_str(&plaintext).map_err(|e| format!("payload is not JSON: {e}"))?;
    Ok(Received {
        subscription: id.to_string(),
        plaintext,
        json,
        ttl,
        topic: header(headers, "topic"),
        urgency: header(headers, "urgency"),
        status: 0,
    })
}
