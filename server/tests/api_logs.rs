//! No API token and no password reaches the server's log, whatever the call and at every
//! level: the log of a real server (in this process, everything it writes captured at
//! TRACE) is searched for them after calls with the right token, a wrong one, a limited
//! one, and commands that carry passwords.

use mucsub_server::testkit::{api_call, with_api_and_limited, TestServer, API_TOKEN};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

const LIMITED: &str = "limited-token-never-logged-0123";
const WRONG: &str = "wrong-token-never-logged-4567";
const PASSWORD: &str = "password-never-logged-89ab";
const NEW_PASSWORD: &str = "new-password-never-logged-cdef";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_and_passwords_never_reach_the_log() {
    let log = Capture::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let s = TestServer::start_with(|c| with_api_and_limited(c, LIMITED, &["send_message"])).await;
    let addr = s.http_addr();
    let register = json!({"user": "bob", "host": "localhost", "password": PASSWORD});
    assert_eq!(
        api_call(addr, Some(API_TOKEN), "register", register.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        api_call(addr, Some(WRONG), "register", register.clone())
            .await
            .status,
        401
    );
    assert_eq!(
        api_call(addr, Some(LIMITED), "register", register)
            .await
            .status,
        403
    );
    let change = json!({"user": "bob", "host": "localhost", "newpass": NEW_PASSWORD});
    assert_eq!(
        api_call(addr, Some(API_TOKEN), "change_password", change)
            .await
            .status,
        200
    );
    let stanza = json!({"from": "a@localhost", "to": "bob@localhost", "stanza": format!("<message><body>{PASSWORD}</body></message>")});
    assert_eq!(
        api_call(addr, Some(LIMITED), "send_stanza", stanza)
            .await
            .status,
        403
    );
    let _ = api_call(addr, Some(API_TOKEN), &format!("x{API_TOKEN}"), json!({})).await;
    s.stop().await;

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    // The capture sees the server's own lines, the API's included.
    assert!(text.contains("API call"), "{text}");
    assert!(text.contains("command=\"change_password\""), "{text}");
    for secret in [API_TOKEN, LIMITED, WRONG, PASSWORD, NEW_PASSWORD] {
        assert!(!text.contains(secret), "{secret} was logged:\n{text}");
    }
}
