//! XEP-0308 corrections in a room: the author's are relayed, archived and wrapped to
//! subscribers like messages (origin-id kept); another occupant's correction of them is
//! refused with `auth/forbidden`, also once the original is only in the archive (after a
//! restart).

#[path = "scenarios/chat.rs"]
mod chat;
#[path = "scenarios/support.rs"]
mod support;

use chat::*;
use support::*;

fn correction(of: &str, text: &str) -> String {
    let origin: String = text.chars().filter(char::is_ascii_alphanumeric).collect();
    format!(
        "<body>{text}</body><replace xmlns='{CORRECT}' id='{of}'/><origin-id xmlns='{SID}' id='o-{origin}'/>"
    )
}

#[tokio::test]
async fn the_authors_correction_is_relayed_archived_and_wrapped() {
    let s = server(&["alice", "bob"]).await;
    let r = room("edits");
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    assert!(disco_features(&mut a, &r)
        .await
        .contains(&CORRECT.to_string()));
    let original = say_raw(
        &mut a,
        &r,
        "m1",
        &format!("<body>helo</body><origin-id xmlns='{SID}' id='m1'/>"),
    )
    .await;
    expect_wrapped(&mut b, "m1").await;
    let fixed = say_raw(&mut a, &r, "m2", &correction("m1", "hello")).await;
    assert_eq!(fixed.attr("type"), Some("groupchat"));
    assert_eq!(occupant_id(&fixed), occupant_id(&original));
    let (_, wrapped) = expect_wrapped(&mut b, "m2").await;
    let replace = wrapped.get_child("replace", CORRECT).expect("replace");
    assert_eq!(replace.attr("id"), Some("m1"));
    let all = archive(&mut b, &r).await;
    let bodies: Vec<Option<String>> = all.iter().map(|(_, m)| body(m)).collect();
    assert_eq!(bodies, vec![Some("helo".into()), Some("hello".into())]);
    let kept = all[1]
        .1
        .get_child("origin-id", SID)
        .and_then(|o| o.attr("id"));
    assert_eq!(kept, Some("o-hello"), "origin-id kept (XEP-0359)");
}

#[tokio::test]
async fn correcting_someone_elses_message_is_forbidden_also_after_a_restart() {
    let mut s = server(&["alice", "bob"]).await;
    let r = room("edits-authz");
    {
        let mut a = login(&s, "alice", "a").await;
        let mut b = login(&s, "bob", "b").await;
        join(&mut a, &r, "alice").await;
        join(&mut b, &r, "bob").await;
        say_raw(&mut a, &r, "m1", "<body>mine</body>").await;
        let refused = say_raw(&mut b, &r, "x1", &correction("m1", "yours")).await;
        assert_error(&refused, "auth", "forbidden");
        // Bob's own message he may correct.
        say_raw(&mut b, &r, "b1", "<body>bobs</body>").await;
        let ok = say_raw(&mut b, &r, "b2", &correction("b1", "bob's")).await;
        assert_eq!(ok.attr("type"), Some("groupchat"));
    }
    s.restart().await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    let refused = say_raw(&mut b, &r, "x2", &correction("m1", "still yours")).await;
    assert_error(&refused, "auth", "forbidden");
    let ok = say_raw(&mut a, &r, "m3", &correction("m1", "mine, fixed")).await;
    assert_eq!(ok.attr("type"), Some("groupchat"));
    // Nothing of the refused ones reached the archive.
    let bodies: Vec<Option<String>> = archive(&mut a, &r)
        .await
        .iter()
        .map(|(_, m)| body(m))
        .collect();
    assert_eq!(
        bodies,
        ["mine", "bobs", "bob's", "mine, fixed"]
            .map(|b| Some(b.to_string()))
            .to_vec()
    );
}
