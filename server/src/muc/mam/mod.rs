//! The room archive over XEP-0313 (`urn:xmpp:mam:2` and `#extended`) with RSM paging
//! (docs/protocol.md S17). The room authorises a query ([`super::room::Action::Mam`]); its task
//! answers it here, from a reader connection.
//!
//! - [`query`]: the request as the archive runs it (ids, `with`, page size);
//! - the storage side (pages, counts, bounds) is [`crate::storage::MucStore`]'s;
//! - [`reply`]: the result messages and `<fin/>`.
//!
//! The elements themselves (`<query/>`, `<result/>`, `<fin/>`, `<metadata/>`) are
//! `mucsub_protocol::mam`'s, shared with the SDK.

pub mod query;
pub mod reply;
#[cfg(test)]
mod tests;

use minidom::Element;

pub use query::parse_query;
pub use reply::query_form;

use super::room::Room;
use super::shared::Shared;
use crate::ns;
use crate::stanza::{iq_result, ErrorType, Refusal};
use crate::storage::UnknownId;
use query::not_found;
use reply::Out;

/// Answers an archive query (or metadata request) the room has authorised.
pub(super) async fn answer(shared: &Shared, room: &Room, iq: Element) {
    match answer_of(shared, room, &iq).await {
        Ok(outs) => {
            for out in outs {
                match out {
                    Out::Xml { to, xml } => shared.outlet.send_xml(&to, xml).await,
                    Out::El(el) => shared.outlet.send(el).await,
                }
            }
        }
        Err(r) => shared.outlet.send(r.reply_to(&iq)).await,
    }
}

async fn answer_of(shared: &Shared, room: &Room, iq: &Element) -> Result<Vec<Out>, Refusal> {
    let room_jid = room.jid.to_string();
    let name = room.name.clone();
    let failed = |e: anyhow::Error| {
        tracing::error!(room = room_jid, error = %e, "archive query failed");
        Refusal::new(ErrorType::Wait, "internal-server-error", "")
    };
    if iq.get_child("metadata", ns::MAM).is_some() {
        let bounds = shared.store.archive_bounds(&name).await.map_err(failed)?;
        return Ok(vec![Out::El(iq_result(iq, Some(bounds.into())))]);
    }
    let Some(q) = iq.get_child("query", ns::MAM) else {
        return Ok(Vec::new());
    };
    let query = parse_query(q, &room_jid, shared.settings.mam_max_page)?;
    // A `with` on a real JID would tell a requester who wrote what: only those who may see
    // real JIDs in this room (XEP-0045 §4.2: anyone in non-anonymous rooms, moderators
    // otherwise) may filter by one.
    if query.with_sender.is_some() {
        let sees_jids = room.config.whois_anyone
            || iq
                .attr("from")
                .and_then(|f| f.parse::<jid::FullJid>().ok())
                .is_some_and(|f| room.is_moderator(&f));
        if !sees_jids {
            return Err(Refusal::new(
                ErrorType::Modify,
                "not-acceptable",
                "Filtering by real JID needs moderator rights in a semi-anonymous room",
            ));
        }
    }
    let page = shared
        .store
        .archive_page(&name, &query)
        .await
        .map_err(failed)?
        .map_err(|UnknownId(id)| not_found(format!("Unknown archive id '{id}'")))?;
    Ok(reply::reply_out(iq, &room_jid, &query, &page))
}
