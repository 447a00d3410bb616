//! XEP-0425 moderated message retraction: a moderator asks the room (an IQ set holding
//! `<moderate id=… xmlns='urn:xmpp:message-moderate:1'>`, or v0.2's `<apply-to
//! xmlns='urn:xmpp:fasten:0'>` which older clients still send) to retract an archived
//! message. The room replaces it with a tombstone in the archive, then announces it as a
//! groupchat message from the room itself, archived like any message (so a client paging
//! forward learns it) and wrapped to subscribers on the messages node:
//!
//! ```xml
//! <message from='room@service' type='groupchat' id='…'>
//!   <stanza-id xmlns='urn:xmpp:sid:0' by='room@service' id='…'/>
//!   <retract xmlns='urn:xmpp:message-retract:1' id='STANZA-ID'>
//!     <moderated xmlns='urn:xmpp:message-moderate:1' by='room@service/modnick'>
//!       <occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>
//!     </moderated>
//!     <reason>…</reason>
//!   </retract>
//!   <apply-to xmlns='urn:xmpp:fasten:0' id='STANZA-ID'>…v0.2…</apply-to>
//! </message>
//! ```

use jid::FullJid;
use minidom::Element;
use mucsub_protocol::retract::{LegacyModerated, ModerateRequest, Moderated, Retract};

use super::room::{Action, Env, Outcome, Room};
use super::store::{ArchiveKey, ArchivedMsg, StoreOp};
use super::xml::B;
use crate::ns;
use crate::stanza::{iq_result, ErrorType, Refusal};
use mucsub_protocol::Node;

/// The room's disco#info features of this XEP (both versions are understood).
pub const FEATURES: &[&str] = &[ns::MODERATE, ns::MODERATE_0];

/// The archive key a moderation IQ names, for the room task to look up.
pub(super) fn target_key(iq: &Element) -> Option<ArchiveKey> {
    if iq.name() != "iq" || iq.attr("type") != Some("set") {
        return None;
    }
    let req = iq
        .children()
        .find_map(|c| ModerateRequest::try_from(c).ok())?;
    req.id.parse().ok().map(ArchiveKey::Id)
}

impl Room {
    pub(super) fn on_moderate(
        &mut self,
        env: &Env,
        from: &FullJid,
        iq: &Element,
        payload: &Element,
    ) -> Outcome {
        match self.moderate(env, from, iq, payload) {
            Ok(out) => out,
            Err(r) => vec![Action::Send(r.reply_to(iq))],
        }
    }

    fn moderate(
        &mut self,
        env: &Env,
        from: &FullJid,
        iq: &Element,
        payload: &Element,
    ) -> Result<Outcome, Refusal> {
        let req =
            ModerateRequest::try_from(payload).map_err(|e| Refusal::bad_request(e.to_string()))?;
        // XEP-0425 §5: only moderators (by role, or admins and owners by affiliation,
        // joined or not) moderate; anyone else has no right to: auth/forbidden.
        if !self.is_moderator(from) {
            return Err(Refusal::new(
                ErrorType::Auth,
                "forbidden",
                "Only moderators may moderate messages in this room",
            ));
        }
        let Some(target) = env.target.filter(|t| t.id.to_string() == req.id) else {
            return Err(Refusal::new(
                ErrorType::Cancel,
                "item-not-found",
                "The message to moderate is not in this room's archive",
            ));
        };
        let target: ArchivedMsg = target.clone();
        let me = from.to_bare();
        let by = match self.speaker_nick(from) {
            Some(nick) => self.nick_jid_str(&nick),
            None => self.jid.to_string(),
        };
        let moderated = Moderated {
            by: by.clone(),
            occupant_id: Some(env.occupant_ids.id(&self.jid, &me)),
        };
        let mut out = vec![Action::Store(self.tombstone(
            env,
            &target,
            Some((moderated.clone(), req.reason.clone())),
        ))];
        let id = env.ids.next_at(env.now_us);
        let retract = Retract {
            id: req.id.clone(),
            moderated: Some(moderated),
            reason: req.reason.clone(),
        };
        let legacy = LegacyModerated {
            id: req.id.clone(),
            by,
            reason: req.reason.clone(),
        };
        let notice = B::new("message", ns::CLIENT)
            .a("from", self.jid.to_string())
            .a("type", "groupchat")
            .a("id", id.to_string())
            .c(B::new("stanza-id", ns::SID)
                .a("by", self.jid.to_string())
                .a("id", id.to_string())
                .b())
            .c(retract.into())
            .c(legacy.into())
            .b();
        if self.config.mam {
            out.push(Action::Store(StoreOp::Archive(super::store::ArchivedMsg {
                id,
                room: self.name.clone(),
                stamp_us: env.now_us,
                nick: String::new(),
                sender: me.to_string(),
                origin_id: None,
                client_id: None,
                stanza: String::from(&notice),
            })));
        }
        out.push(Action::Send(iq_result(iq, None)));
        self.send_to_occupants(&mut out, &notice);
        self.fanout(&mut out, &[Node::Messages], &id.to_string(), |_| {
            notice.clone()
        });
        Ok(out)
    }
}
