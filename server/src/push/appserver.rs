//! The built-in XEP-0357 app server (`push.<domain>`): it takes the pubsub publishes of the
//! XMPP server and delivers each as a Web Push message (RFC 8030) encrypted for the
//! browser's subscription (RFC 8291) and signed with the server's VAPID key (RFC 8292).
//!
//! A device registers by enabling push with these publish-options fields (the browser's
//! `PushSubscription.toJSON()`): `endpoint`, `p256dh`, `auth`.

use super::http_client;
use super::webpush::{self, SubscriptionKeys, VapidKey};
use crate::ns;
use crate::stanza::{iq_result, ErrorType, Refusal};
use minidom::Element;
use mucsub_protocol::disco::{DiscoInfoResult, Identity};
use mucsub_protocol::forms::{self, DataFormType};
use mucsub_protocol::push::publish::{Kind, Publish};
use std::time::Duration;

/// Largest body text copied into a payload, in bytes (the whole encrypted message must fit
/// 4 KiB, with the room JID and nick beside it).
const MAX_BODY_BYTES: usize = 2048;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// VAPID `sub` claim: a contact for the push service operator.
    pub subject: String,
    /// Accept `http://` endpoints (only the loopback push service of tests needs this).
    pub allow_http_endpoints: bool,
    /// RFC 8030 `TTL`: how long the push service keeps an undelivered message.
    pub ttl_secs: u32,
    /// RFC 8030 `Urgency`.
    pub urgency: String,
    /// Attempts per push, the first included; retried on 429, 5xx and network errors.
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub request_timeout: Duration,
    pub vapid_validity_secs: i64,
}

/// One push to send.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
    /// The JSON payload, before encryption.
    pub payload: Vec<u8>,
    /// RFC 8030 `Topic`: one per room, so a push service holding several undelivered
    /// messages for a sleeping device replaces them with the newest (coalescing per room).
    pub topic: Option<String>,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// 404/410: the subscription expired; the registration must go.
    Gone {
        status: u16,
    },
    /// Given up: a 4xx other than 404/410/429, or retries exhausted.
    Failed {
        reason: String,
        attempts: u32,
    },
}

pub struct AppServer {
    vapid: VapidKey,
    cfg: DeliveryConfig,
}

/// Checks the publish-options of an `enable` aimed at this app server.
pub fn validate_options(
    options: &[(String, String)],
    allow_http: bool,
) -> Result<(String, SubscriptionKeys), Refusal> {
    let get = |k: &str| {
        options
            .iter()
            .find(|(var, _)| var == k)
            .map(|(_, v)| v.trim())
    };
    let refuse = |text: String| Refusal::new(ErrorType::Modify, "not-acceptable", text);
    let (endpoint, p256dh, auth) = match (get("endpoint"), get("p256dh"), get("auth")) {
        (Some(e), Some(p), Some(a)) => (e, p, a),
        _ => {
            return Err(refuse(
                "publish-options must carry the Web Push subscription: endpoint, p256dh, auth"
                    .into(),
            ))
        }
    };
    let uri: hyper::Uri = endpoint
        .parse()
        .map_err(|_| refuse("endpoint is not a URL".into()))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_http => {}
        _ => return Err(refuse("endpoint must be an https URL".into())),
    }
    if uri.host().is_none() {
        return Err(refuse("endpoint has no host".into()));
    }
    let keys = SubscriptionKeys::parse(p256dh, auth).map_err(|e| refuse(e.to_string()))?;
    Ok((endpoint.to_string(), keys))
}

fn topic_for(room: &str) -> String {
    use sha2::Digest;
    // RFC 8030 §5.4: at most 32 characters of the base64url alphabet.
    let digest = sha2::Sha256::digest(room.as_bytes());
    webpush::b64url(&digest)[..32].to_string()
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with "…".
fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl AppServer {
    pub fn new(vapid: VapidKey, cfg: DeliveryConfig) -> Self {
        AppServer { vapid, cfg }
    }

    pub fn vapid(&self) -> &VapidKey {
        &self.vapid
    }

    pub fn config(&self) -> &DeliveryConfig {
        &self.cfg
    }

    /// Turns a XEP-0357 publish into the Web Push to send. The payload is JSON for the
    /// service worker: `{"v":1,"kind","room"?,"sender","body"?,"count","id"?}`; `body` is
    /// there only when the XMPP server included `last-message-body`.
    pub fn accept_publish(&self, p: &Publish) -> Result<Delivery, Refusal> {
        let (endpoint, keys) = validate_options(&p.options, self.cfg.allow_http_endpoints)?;
        let notice = p.notice.as_ref();
        let kind = notice.and_then(|n| n.kind).unwrap_or(Kind::Chat);
        let room = notice.and_then(|n| n.room.as_deref());
        let sender = notice
            .and_then(|n| n.sender.as_deref())
            .or(p.summary.last_message_sender.as_deref())
            .unwrap_or("");
        let count = p.summary.message_count.unwrap_or(1);
        let mut payload = serde_json::json!({
            "v": 1,
            "kind": kind.as_str(),
            "sender": sender,
            "count": count,
        });
        if let Some(room) = room {
            payload["room"] = room.into();
        }
        if let Some(id) = notice.and_then(|n| n.id.as_deref()) {
            payload["id"] = id.into();
        }
        if let Some(body) = p.summary.last_message_body.as_deref() {
            payload["body"] = truncate_bytes(body, MAX_BODY_BYTES).into();
        }
        let mut bytes = payload.to_string().into_bytes();
        if bytes.len() > webpush::MAX_PLAINTEXT {
            // Long JIDs and nicks: the body is what can go; the app fetches it anyway.
            if let Some(p) = payload.as_object_mut() {
                p.remove("body");
            }
            bytes = payload.to_string().into_bytes();
        }
        if bytes.len() > webpush::MAX_PLAINTEXT {
            return Err(Refusal::new(
                ErrorType::Modify,
                "not-acceptable",
                "notification too large for one Web Push message",
            ));
        }
        Ok(Delivery {
            endpoint,
            keys,
            payload: bytes,
            topic: room.map(topic_for),
        })
    }

    /// Sends one push, retrying with exponential backoff (or the service's `Retry-After`,
    /// capped) on 429, 5xx and network errors, at most `max_attempts` times in all.
    pub async fn deliver(&self, d: &Delivery) -> Outcome {
        let body = match webpush::encrypt(&d.payload, &d.keys) {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Failed {
                    reason: e.to_string(),
                    attempts: 0,
                }
            }
        };
        let max = self.cfg.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=max {
            let now = crate::time::now_millis() / 1000;
            let auth = match self.vapid.authorization(
                &d.endpoint,
                &self.cfg.subject,
                now,
                self.cfg.vapid_validity_secs,
            ) {
                Ok(a) => a,
                Err(e) => {
                    return Outcome::Failed {
                        reason: e.to_string(),
                        attempts: attempt - 1,
                    }
                }
            };
            let mut headers = vec![
                ("authorization", auth),
                ("content-encoding", "aes128gcm".to_string()),
                ("content-type", "application/octet-stream".to_string()),
                ("ttl", self.cfg.ttl_secs.to_string()),
                ("urgency", self.cfg.urgency.clone()),
            ];
            if let Some(t) = &d.topic {
                headers.push(("topic", t.clone()));
            }
            let answer = http_client::post(
                &d.endpoint,
                &headers,
                body.clone(),
                self.cfg.allow_http_endpoints,
                self.cfg.request_timeout,
            )
            .await;
            let retry_after = match answer {
                Ok(a) if (200..300).contains(&a.status) => {
                    return Outcome::Delivered { status: a.status }
                }
                Ok(a) if a.status == 404 || a.status == 410 => {
                    return Outcome::Gone { status: a.status }
                }
                Ok(a) if a.status == 429 || a.status >= 500 => {
                    last = format!("push service answered {}", a.status);
                    a.retry_after.map(Duration::from_secs)
                }
                Ok(a) => {
                    return Outcome::Failed {
                        reason: format!("push service refused the message: {}", a.status),
                        attempts: attempt,
                    }
                }
                Err(e) => {
                    last = e;
                    None
                }
            };
            if attempt < max {
                let backoff = self
                    .cfg
                    .retry_base
                    .saturating_mul(1u32 << (attempt - 1).min(16));
                let wait = retry_after.unwrap_or(backoff).min(self.cfg.retry_max);
                tracing::debug!(attempt, ?wait, reason = %last, "retrying push");
                tokio::time::sleep(wait).await;
            }
        }
        Outcome::Failed {
            reason: last,
            attempts: max,
        }
    }

    /// disco#info of `push.<domain>`: a pubsub/push identity, and the VAPID public key in a
    /// XEP-0128 extension form so a client can subscribe the browser before enabling.
    pub fn disco_info(&self, req: &Element, service: &str) -> Element {
        let query = req.get_child("query", ns::DISCO_INFO);
        let key = forms::field("vapid-public-key", [self.vapid.public_b64()]);
        let info = DiscoInfoResult {
            node: query.and_then(|q| q.attr("node")).map(str::to_owned),
            identities: vec![Identity {
                category: "pubsub".into(),
                type_: "push".into(),
                lang: None,
                name: Some(format!("Web Push app server of {service}")),
            }],
            features: [ns::DISCO_INFO, ns::PUSH].map(str::to_owned).into(),
            extensions: vec![forms::with_type(
                DataFormType::Result_,
                ns::WEBPUSH_FORM,
                vec![key],
            )],
        };
        iq_result(req, Some(info.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::publish::{publish, Event};
    use crate::push::xep0357::Registration;

    fn cfg() -> DeliveryConfig {
        DeliveryConfig {
            subject: "mailto:admin@localhost".into(),
            allow_http_endpoints: false,
            ttl_secs: 60,
            urgency: "normal".into(),
            max_attempts: 1,
            retry_base: Duration::from_millis(1),
            retry_max: Duration::from_millis(1),
            request_timeout: Duration::from_secs(5),
            vapid_validity_secs: 3600,
        }
    }

    fn subscription() -> (p256::SecretKey, [u8; 16], Vec<(String, String)>) {
        let ua = webpush::random_secret();
        let auth: [u8; 16] = rand::random();
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let p = webpush::b64url(ua.public_key().to_encoded_point(false).as_bytes());
        let opts = vec![
            (
                "endpoint".to_string(),
                "https://push.example/sub/1".to_string(),
            ),
            ("p256dh".to_string(), p),
            ("auth".to_string(), webpush::b64url(&auth)),
        ];
        (ua, auth, opts)
    }

    /// The delivery of a room message event for a registration that allows bodies.
    fn delivery(room: String, sender: String, text: String, count: u64) -> Delivery {
        let app = AppServer::new(VapidKey::generate(), cfg());
        let (_, _, options) = subscription();
        let reg = Registration {
            user: "bob".into(),
            service: "push.localhost".into(),
            node: "dev".into(),
            options,
            include_body: true,
        };
        let ev = Event {
            kind: Kind::Message,
            room: Some(room),
            sender,
            text: Some(text),
            id: Some("s1".into()),
        };
        app.accept_publish(&publish(&reg, &ev, count)).unwrap()
    }

    #[test]
    fn publish_becomes_a_json_payload_and_a_room_topic() {
        let d = delivery(
            "room@conference.localhost".into(),
            "alice".into(),
            "hello".into(),
            2,
        );
        let v: serde_json::Value = serde_json::from_slice(&d.payload).unwrap();
        assert_eq!(v["room"], "room@conference.localhost");
        assert_eq!(v["sender"], "alice");
        assert_eq!(v["body"], "hello");
        assert_eq!(v["count"], 2);
        assert_eq!(v["kind"], "message");
        assert_eq!(d.topic.as_ref().unwrap().len(), 32);
        assert_eq!(d.endpoint, "https://push.example/sub/1");
    }

    #[test]
    fn options_are_validated() {
        let (_, _, mut options) = subscription();
        assert!(validate_options(&options, false).is_ok());
        options[0].1 = "http://127.0.0.1:9/x".into();
        assert_eq!(
            validate_options(&options, false).unwrap_err().condition,
            "not-acceptable"
        );
        assert!(validate_options(&options, true).is_ok());
        options.pop();
        assert!(validate_options(&options, true).is_err());
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let s = "é".repeat(MAX_BODY_BYTES);
        let t = truncate_bytes(&s, MAX_BODY_BYTES);
        assert!(t.len() <= MAX_BODY_BYTES);
        assert!(t.ends_with('…'));
        assert!(t.len() > MAX_BODY_BYTES - 4);
        assert_eq!(truncate_bytes("short", 10), "short");
    }

    #[test]
    fn any_body_fits_one_record() {
        let d = delivery(
            format!("{}@conference.localhost", "r".repeat(1000)),
            "n".repeat(1000),
            "\u{1F600}".repeat(5000),
            1,
        );
        assert!(d.payload.len() <= webpush::MAX_PLAINTEXT);
        assert!(webpush::encrypt(&d.payload, &d.keys).is_ok());
    }
}
