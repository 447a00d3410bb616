//! Stanza dispatch in a MUC room (the sans-IO room core the server runs one task per room
//! for): arbitrary stanzas from a few senders, one after another, against a room with an
//! owner present. Nothing may panic, every reply must serialise, and an archive query the
//! room authorises must parse or be refused cleanly.
#![no_main]

use jid::{BareJid, FullJid};
use libfuzzer_sys::fuzz_target;
use mucsub_server::muc::config_form::RoomConfig;
use mucsub_server::muc::ids::IdGen;
use mucsub_server::muc::room::{Action, Env, Room};
use mucsub_server::xmlstream::{parse_element, Limits};

const LIMITS: Limits = Limits {
    max_stanza: 16 * 1024,
    max_depth: 16,
};

fn jid(s: &str) -> FullJid {
    FullJid::new(s).expect("static jid")
}

fuzz_target!(|data: &[u8]| {
    let room_jid = BareJid::new("r@conference.localhost").expect("static jid");
    let senders = [
        jid("owner@localhost/a"),
        jid("alice@localhost/b"),
        jid("bob@localhost/c"),
        jid("bob@localhost/d"),
    ];
    let owner = senders[0].to_bare();
    let (mut room, _) = Room::create("r", room_jid, owner, RoomConfig::default());
    let ids = IdGen::new(0);
    let mut now = 1_700_000_000_000_000i64;
    let join = parse_element(
        "<presence xmlns='jabber:client' to='r@conference.localhost/owner'>\
         <x xmlns='http://jabber.org/protocol/muc'/></presence>",
        LIMITS,
    )
    .expect("static join");
    room.handle(
        &Env {
            ids: &ids,
            now_us: now,
            history_size: 5,
        },
        senders[0].clone(),
        join,
    );
    for chunk in data.split(|b| *b == 0xff) {
        let Some((&who, xml)) = chunk.split_first() else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(xml) else {
            continue;
        };
        let Ok(mut el) = parse_element(text, LIMITS) else {
            continue;
        };
        let from = senders[usize::from(who) % senders.len()].clone();
        mucsub_server::stanza::set_attr(&mut el, "from", &from.to_string());
        now += 1_000;
        let env = Env {
            ids: &ids,
            now_us: now,
            history_size: 5,
        };
        for action in room.handle(&env, from, el) {
            match action {
                Action::Send(e) | Action::Broadcast(e, _) => {
                    let _ = String::from(&e);
                }
                Action::Mam { iq } => {
                    if let Some(q) = iq.get_child("query", "urn:xmpp:mam:2") {
                        let _ =
                            mucsub_server::muc::mam::parse_query(q, "r@conference.localhost", 50);
                    }
                }
                Action::Event(ev) => {
                    for (inner, _) in &ev.variants {
                        let _ = String::from(inner);
                    }
                }
                Action::Store(_) | Action::Destroyed => {}
            }
        }
    }
});
