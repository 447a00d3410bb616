//! A bound session's presence: broadcast presence (availability and priority in the
//! router, and on the first available presence the replay of offline storage, RFC 6121
//! 8.5.2 / XEP-0160), directed presence to rooms (remembered, so the rooms learn when the
//! session goes away), and going unavailable.

use super::conn::{Conn, End};
use super::negotiate::Bound;
use super::{normalize_jid, Transport};
use crate::extensions::Caller;
use crate::ns;
use crate::stanza;
use crate::ServerContext;
use minidom::Element;
use std::collections::HashSet;

/// One session's presence state.
pub(crate) struct Presence {
    user: String,
    full: String,
    /// The session's id in the router.
    id: u64,
    available: bool,
    /// Full JIDs on other domains (MUC rooms) this session sent available presence to.
    directed: HashSet<String>,
}

impl Presence {
    pub(crate) fn new(me: &Bound, id: u64) -> Presence {
        Presence {
            user: me.user.clone(),
            full: me.full.clone(),
            id,
            available: false,
            directed: HashSet::new(),
        }
    }

    /// A presence stanza from the client; `from` is stamped and `to` (parsed as `to`)
    /// normalised already.
    pub(crate) async fn handle<T: Transport>(
        &mut self,
        c: &mut Conn<'_, T>,
        el: Element,
        to: Option<jid::Jid>,
    ) -> Result<(), End> {
        let ptype = el.attr("type").unwrap_or("").to_owned();
        let Some(j) = to else {
            match ptype.as_str() {
                "" => self.broadcast_available(c, &el).await?,
                "unavailable" => self.went_unavailable(c.ctx).await,
                // Subscription management needs a roster, which this server does not keep.
                _ => {}
            }
            return Ok(());
        };
        let domain = j.domain().as_str().to_ascii_lowercase();
        if domain != c.ctx.config.domain {
            // Directed presence to a room (or elsewhere): remember it, so the room learns
            // when this session goes away.
            let target = normalize_jid(&j);
            match ptype.as_str() {
                "" => {
                    self.directed.insert(target);
                }
                "unavailable" => {
                    self.directed.remove(&target);
                }
                _ => {}
            }
        }
        c.ctx.router.route(el).await;
        Ok(())
    }

    /// Available broadcast presence: a new priority, or (the first time) the session
    /// becomes available and receives the account's offline messages.
    async fn broadcast_available<T: Transport>(
        &mut self,
        c: &mut Conn<'_, T>,
        el: &Element,
    ) -> Result<(), End> {
        let priority = el
            .get_child("priority", ns::CLIENT)
            .and_then(|p| p.text().trim().parse::<i32>().ok())
            .filter(|p| (-128..=127).contains(p))
            .unwrap_or(0);
        let router = &c.ctx.router;
        if self.available {
            router.set_presence(&self.user, self.id, true, priority);
            return Ok(());
        }
        self.available = true;
        let msgs = match router.become_available(&self.user, self.id, priority).await {
            Ok(msgs) => msgs,
            Err(e) => {
                tracing::error!(error = %e, "offline delivery failed");
                return Ok(());
            }
        };
        let mut ids = Vec::with_capacity(msgs.len());
        for (id, m) in msgs {
            c.send_el(&m).await?;
            ids.push(id);
        }
        if !ids.is_empty() {
            tracing::debug!(n = ids.len(), jid = self.full, "delivered offline messages");
        }
        // Removed only once written: a connection lost in between loses nothing.
        if let Err(e) = c.ctx.router.offline_delivered(&self.user, ids).await {
            tracing::error!(error = %e, "could not remove delivered offline messages");
        }
        let me = Caller {
            user: &self.user,
            jid: &self.full,
        };
        let ctx = c.ctx;
        for hook in ctx.extensions().available_hooks() {
            for el in hook.on_available(me).await {
                c.send_el(&el).await?;
            }
        }
        Ok(())
    }

    /// Broadcast unavailable: tell every room we are in, mark us unavailable.
    pub(crate) async fn went_unavailable(&mut self, ctx: &ServerContext) {
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
