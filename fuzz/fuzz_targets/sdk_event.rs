//! The SDK's event normaliser: any stanza, taken as a MucSub wrapper, a joined-room
//! stanza or a MAM result, either becomes a RoomEvent or is refused with an error, never
//! a panic; deduplication keys and merging work on whatever comes out.
#![no_main]

use jid::BareJid;
use libfuzzer_sys::fuzz_target;
use minidom::Element;
use mucsub::event::RoomEvent;
use mucsub::protocol::mam::archived_stanza;
use mucsub::protocol::time::Timestamp;
use mucsub::protocol::MucSubEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Keep inputs to what a bounded stream parser would let through.
    if text.len() > 16 * 1024 {
        return;
    }
    let Ok(el) = text.parse::<Element>() else {
        return;
    };
    let now = Timestamp::from_millis(1_700_000_000_000);
    let room = BareJid::new("r@conference.localhost").expect("static jid");
    let mut events = Vec::new();
    if MucSubEvent::is_wrapper(&el) {
        if let Ok(ev) = MucSubEvent::try_from(&el) {
            events.extend(RoomEvent::from_wrapper(&ev, &el, now).ok());
        }
    }
    events.extend(RoomEvent::from_joined(&el, now).ok());
    if let Some(a) = archived_stanza(&el) {
        events.extend(RoomEvent::from_archive(&room, &a, now).ok());
    }
    for i in 0..events.len() {
        let _ = events[i].dedup_keys();
        for j in 0..events.len() {
            let other = events[j].clone();
            let _ = events[i].same_as(&other);
            let mut merged = events[i].clone();
            merged.absorb(&other);
        }
    }
});
