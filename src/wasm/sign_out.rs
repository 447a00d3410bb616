//! `signOut()`'s server half: one short connection that signs in with the device's FAST
//! token and `<fast invalidate='true'/>` (XEP-0484), after which the server never takes
//! that token again. The stream it binds is closed at once; nothing is resumed.

use crate::session::framing::Framing;
use crate::session::{Session, SessionConfig, SessionError, SessionOut, Wake};

use super::error::{Code, SdkError};
use super::runtime::{is_secure, Options};
use super::socket::Socket;

/// Revokes `wake`'s token on the server. A token the server already refuses is revoked as
/// far as it matters: `Ok`. Without a token there is nothing to do.
pub async fn revoke(opts: &Options, wake: &Wake) -> Result<(), SdkError> {
    if wake.token.is_none() {
        return Ok(());
    }
    let session = Session::with_wake(
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
    super::one_shot::run(&opts.url, session, "sign-out", &mut |socket, _, outs| {
        perform(socket, outs)
    })
    .await
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
