//! Issue 22 through the JavaScript API in a browser, against a real mucsub-server
//! (`tests/suites/browser-sdk.sh` starts it): `send` with `replyTo`, `edit`, `react`,
//! `retract` and `moderate`, the `change` events they bring to the other subscriber, and
//! the message event's `occupantId`, `replyTo`, `edited`, `reactions`, `retracted` and
//! `moderated` once the store folded the changes in (on `update`, and read back with
//! `history`).

use crate::support::*;
use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

/// The stored event of `room` whose `id` is `id`, as `history()` returns it.
async fn stored(peer: &Peer, room: &str, id: &str) -> JsValue {
    let page = call(peer.client.history(room.into(), None))
        .await
        .expect("history");
    array(&prop(&page, "events"))
        .into_iter()
        .find(|e| prop_str(e, "id").as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no stored event with id {id}"))
}

fn is_change(e: &JsValue, change: &str, target: &str) -> bool {
    prop_str(e, "kind").as_deref() == Some("change")
        && prop_str(e, "change").as_deref() == Some(change)
        && prop_str(e, "target").as_deref() == Some(target)
}

#[wasm_bindgen_test]
async fn reply_edit_react_retract_and_moderate_through_the_js_api() {
    let room = fresh_room("changes");
    // Alice subscribes first: she creates the room and owns it, so she may moderate.
    let alice = Peer::subscribed("alice", &room).await;
    let bob = Peer::subscribed("bob", &room).await;

    let hello = alice.send(&room, "hello").await;
    let hello_id = prop_str(&hello, "id").expect("send returns the message id");
    let seen = bob
        .wait_event(|e| prop_str(e, "id").as_deref() == Some(hello_id.as_str()))
        .await;
    let hello_sid = prop_str(&seen, "stanzaId").expect("archived");
    let alice_occ = prop_str(&seen, "occupantId").expect("the room's occupant-id");

    // A reply names the answered message by its stanza-id and its author.
    let opts = Object::new();
    set(&opts, "replyTo", &hello_sid.as_str().into());
    let reply = call(
        bob.client
            .send(room.clone(), "hi alice".into(), Some(opts.unchecked_into())),
    )
    .await
    .expect("reply");
    let reply_id = prop_str(&reply, "id").unwrap();
    let got = alice
        .wait_event(|e| prop_str(e, "id").as_deref() == Some(reply_id.as_str()))
        .await;
    let reply_to = prop(&got, "replyTo");
    assert_eq!(prop_str(&reply_to, "id"), Some(hello_sid.clone()));
    assert_eq!(prop_str(&reply_to, "to"), Some(format!("{room}/alice")));
    let reply_sid = prop_str(&got, "stanzaId").expect("archived");

    // Alice corrects hers by the id `send` gave her; Bob reacts by the stanza-id.
    call(
        alice
            .client
            .edit(room.clone(), hello_id.clone(), "hello, world".into()),
    )
    .await
    .expect("edit");
    let edit = bob.wait_event(|e| is_change(e, "edit", &hello_id)).await;
    assert_eq!(prop_str(&edit, "body").as_deref(), Some("hello, world"));
    // The app also gets the message as it now is, without folding the change itself.
    let updated = bob
        .wait_update(|m| prop_strings(m, "edited") == ["hello"])
        .await;
    assert_eq!(prop_str(&updated, "id"), Some(hello_id.clone()));
    assert_eq!(prop_str(&updated, "kind").as_deref(), Some("message"));
    assert_eq!(prop_str(&updated, "body").as_deref(), Some("hello, world"));
    let emojis: Array = ["👍", "🎉"].iter().map(|e| JsValue::from_str(e)).collect();
    call(
        bob.client
            .react(room.clone(), hello_sid.clone(), emojis.into()),
    )
    .await
    .expect("react");
    let react = alice
        .wait_event(|e| is_change(e, "react", &hello_sid))
        .await;
    assert_eq!(prop_strings(&react, "emojis"), ["👍", "🎉"]);
    let bob_occ = prop_str(&react, "occupantId").expect("the room's occupant-id");
    let updated = alice
        .wait_update(|m| prop(m, "reactions").is_object())
        .await;
    assert_eq!(
        prop_strings(&prop(&updated, "reactions"), "🎉"),
        std::slice::from_ref(&bob_occ)
    );
    // Each has its own copy of both changes (the room echoes one's own) before looking.
    alice.wait_event(|e| is_change(e, "edit", &hello_id)).await;
    bob.wait_event(|e| is_change(e, "react", &hello_sid)).await;

    // Folded into the stored message, on both sides.
    for peer in [&alice, &bob] {
        let m = stored(peer, &room, &hello_id).await;
        assert_eq!(prop_str(&m, "body").as_deref(), Some("hello, world"));
        assert_eq!(prop_strings(&m, "edited"), ["hello"]);
        assert_eq!(prop_str(&m, "occupantId"), Some(alice_occ.clone()));
        let reactions = prop(&m, "reactions");
        for emoji in ["👍", "🎉"] {
            assert_eq!(
                prop_strings(&reactions, emoji),
                std::slice::from_ref(&bob_occ)
            );
        }
    }

    // Someone else's message: a plain occupant may not moderate it.
    let err = call(
        bob.client
            .moderate(room.clone(), hello_sid.clone(), Some("no".into())),
    )
    .await
    .unwrap_err();
    assert_error(&err, "forbidden");

    // Alice retracts hers (named by its id; a retraction of one's own message names its
    // origin-id, the one Converse.js applies) and moderates Bob's reply (by stanza-id).
    call(alice.client.retract(room.clone(), hello_id.clone()))
        .await
        .expect("retract");
    call(
        alice
            .client
            .moderate(room.clone(), reply_sid.clone(), Some("off topic".into())),
    )
    .await
    .expect("moderate");
    bob.wait_event(|e| is_change(e, "retract", &hello_id)).await;
    let updated = bob.wait_update(|m| prop(m, "retracted").is_object()).await;
    assert_eq!(prop_str(&updated, "id"), Some(hello_id.clone()));
    assert_eq!(prop_str(&updated, "body").as_deref(), Some(""));
    let moderation = bob
        .wait_event(|e| is_change(e, "moderate", &reply_sid))
        .await;
    assert_eq!(
        prop_str(&prop(&moderation, "moderated"), "reason").as_deref(),
        Some("off topic")
    );

    let gone = stored(&bob, &room, &hello_id).await;
    assert!(prop(&gone, "retracted").is_object(), "retracted");
    assert_eq!(prop_str(&gone, "body").as_deref(), Some(""));
    assert!(prop(&gone, "edited").is_undefined() && prop(&gone, "reactions").is_undefined());
    let moderated = prop(&stored(&bob, &room, &reply_id).await, "moderated");
    assert_eq!(prop_str(&moderated, "reason").as_deref(), Some("off topic"));
    assert!(prop_str(&moderated, "by").is_some_and(|by| by.starts_with(&room)));

    // Change events are folded, not listed.
    let page = call(bob.client.history(room.clone(), None)).await.unwrap();
    let kinds: Vec<String> = array(&prop(&page, "events"))
        .iter()
        .filter_map(|e| prop_str(e, "kind"))
        .collect();
    assert!(!kinds.iter().any(|k| k == "change"), "{kinds:?}");

    alice.close().await;
    bob.close().await;
}

#[wasm_bindgen_test]
async fn bad_arguments_are_refused_before_anything_is_sent() {
    let alice = Peer::new("alice").await;
    let room = fresh_room("bad-args");
    let err = call(alice.client.edit(room.clone(), "m1".into(), String::new()))
        .await
        .unwrap_err();
    assert_error(&err, "bad-request");
    let err = call(alice.client.retract(room.clone(), String::new()))
        .await
        .unwrap_err();
    assert_error(&err, "bad-request");
    let err = call(alice.client.react(room.clone(), "s1".into(), "👍".into()))
        .await
        .unwrap_err();
    assert_error(&err, "bad-request");
    let err = call(alice.client.moderate(room, String::new(), None))
        .await
        .unwrap_err();
    assert_error(&err, "bad-request");
    alice.close().await;
}
