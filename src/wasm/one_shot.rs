//! A short session of its own beside the client's live connection: open a WebSocket, run
//! the sans-IO [`Session`] to sign-in and whatever the caller wants done, close politely.
//! Push registration (`push.rs`) and `signOut()`'s token revocation (`sign_out.rs`) use it;
//! each decides, from what the session puts out, when it is over.

use crate::session::framing::parse_ws_message;
use crate::session::{Session, SessionOut};

use super::error::{Code, SdkError};
use super::local::Queue;
use super::socket::{Socket, SocketEvent, Timer};

/// How long a one-shot session may take before it fails with `timeout`.
const TIMEOUT_MS: f64 = 30_000.0;

enum Step {
    Socket(SocketEvent),
    TimedOut,
}

/// What a job's step returns: `Some` once the job is done or failed.
pub type Done = Option<Result<(), SdkError>>;

/// Runs `session` on a new WebSocket to `url`. `step` gets what the session put out (after
/// the socket opened or a frame came in) and returns `Some` once the job is done or failed;
/// `what` names the job in the timeout error. The stream is closed afterwards if it got
/// that far, and the socket dropped.
///
/// Not generic: a job that yields a value keeps it in its step's captures. One instance of
/// this state machine serves both jobs instead of a copy inlined into each caller (issue
/// 24, package size).
pub async fn run(
    url: &str,
    mut session: Session,
    what: &str,
    step: &mut dyn FnMut(&Socket, &mut Session, Vec<SessionOut>) -> Done,
) -> Result<(), SdkError> {
    let steps: Queue<Step> = Queue::default();
    let sink = {
        let steps = steps.clone();
        std::rc::Rc::new(move |ev: SocketEvent| steps.push(Step::Socket(ev)))
    };
    let socket = Socket::open(url, sink)?;
    let _deadline = {
        let steps = steps.clone();
        Timer::after(TIMEOUT_MS, move || steps.push(Step::TimedOut))
    };
    let outcome = loop {
        let outs = match steps.next().await {
            None => break Err(SdkError::new(Code::NotConnected, "the client was closed")),
            Some(Step::TimedOut) => {
                break Err(SdkError::new(
                    Code::Timeout,
                    format!("{what}: no answer from the server"),
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
        if let Some(done) = step(&socket, &mut session, outs) {
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
    // Dropping the socket closes the WebSocket after the close frame.
    drop(socket);
    outcome
}
