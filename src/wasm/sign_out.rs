//! `signOut()`'s server half: one short connection that signs in with the device's FAST
//! token and `<fast invalidate='true'/>` (XEP-0484), after which the server never takes
//! that token again. The stream it binds is closed at once; nothing is resumed.

use crate::session::framing::{parse_ws_message, Framing};
use crate::session::{Session, SessionConfig, SessionError, SessionOut, Wake};

use super::error::{Code, SdkError};
use super::local::Queue;
use super::runtime::{is_secure, Options};
use super::socket::{Socket, SocketEvent, Timer};

/// How long the revocation may take.
const TIMEOUT_MS: f64 = 30_000.0;

enum Step {
    Socket(SocketEvent),
    TimedOut,
}

/// Revokes `wake`'s token on the server. A token the server already refuses is revoked as
/// far as it matters: `Ok`. Without a token there is nothing to do.
pub async fn revoke(opts: &Options, wake: &Wake) -> Result<(), SdkError> {
    if wake.token.is_none() {
        return Ok(());
    }
    let steps: Queue<Step> = Queue::default();
    let sink = {
        let steps = steps.clone();
        move |ev: SocketEvent| steps.push(Step::Socket(ev))
    };
    let socket = Socket::open(&opts.url, sink)?;
    let _deadline = {
        let steps = steps.clone();
        Timer::after(TIMEOUT_MS, move || steps.push(Step::TimedOut))
    };
    let mut session = Session::with_wake(
        SessionConfig {
            jid: opts.jid.clone(),
            // The token is the only secret this connection may use.
            password: String::new(),
            resource: None,
            framing: Framing::WebSocket,
            secure: is_secure(&opts.url),
            initial_presence: false,
            token: false,
        },
        Wake {
            manage: true,
            stream: None,
            invalidate: true,
            ..wake.clone()
        },
    );
    let outcome = loop {
        let outs = match steps.next().await {
            None => break Err(SdkError::new(Code::NotConnected, "the client was closed")),
            Some(Step::TimedOut) => {
                break Err(SdkError::new(
                    Code::Timeout,
                    "sign-out: no answer from the server",
                ))
            }
            Some(Step::Socket(SocketEvent::Open)) => session.start(),
            Some(Step::Socket(SocketEvent::Text(t))) => match parse_ws_message(&t) {
                Ok(frame) => session.handle(frame),
                Err(e) => {
                    break Err(SdkError::new(
                        Code::Network,
                        format!("bad frame from the server: {e}"),
                    ))
                }
            },
            Some(Step::Socket(SocketEvent::Closed(why))) => {
                break Err(SdkError::new(Code::Network, why))
            }
        };
        if let Some(done) = perform(&socket, outs) {
            break done;
        }
    };
    if session.is_ready() {
        for out in session.close() {
            if let SessionOut::Write(w) = out {
                let _ = socket.send(&w);
            }
        }
    }
    drop(socket);
    outcome
}

/// Writes what the session wants written; `Some` once it is over.
fn perform(socket: &Socket, outs: Vec<SessionOut>) -> Option<Result<(), SdkError>> {
    for out in outs {
        match out {
            SessionOut::Write(w) => {
                if let Err(e) = socket.send(&w) {
                    return Some(Err(SdkError::new(Code::Network, e)));
                }
            }
            // Signed in with `invalidate`: the token is dead from here.
            SessionOut::Ready(_) | SessionOut::Resumed(_) => return Some(Ok(())),
            // Refused: revoked or expired already.
            SessionOut::TokenRejected(_) => return Some(Ok(())),
            SessionOut::Ended(Some(SessionError::AuthFailed(_))) => return Some(Ok(())),
            SessionOut::Ended(e) => {
                let why = e.map(|e| e.to_string()).unwrap_or_else(|| "closed".into());
                return Some(Err(SdkError::new(Code::Network, why)));
            }
            SessionOut::ResetParser | SessionOut::Token(_) | SessionOut::Stanza(_) => {}
        }
    }
    None
}
