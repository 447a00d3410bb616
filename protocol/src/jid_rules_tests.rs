//! The browser build checks JIDs without Unicode tables (`jid::lite`, vendor/jid); native
//! builds, the server among them, run full stringprep and IDNA. On ASCII both must agree, or
//! the browser and its server would key the same room or account differently.

use jid::{DomainPart, NodePart, ResourcePart};
use proptest::prelude::*;

fn full_node(s: &str) -> Result<String, jid::Error> {
    NodePart::new(s).map(|p| p.as_str().to_owned())
}
fn full_domain(s: &str) -> Result<String, jid::Error> {
    DomainPart::new(s).map(|p| p.as_str().to_owned())
}
fn full_resource(s: &str) -> Result<String, jid::Error> {
    ResourcePart::new(s).map(|p| p.as_str().to_owned())
}
fn lite_node(s: &str) -> Result<String, jid::Error> {
    jid::lite::node(s).map(|c| c.into_owned())
}
fn lite_domain(s: &str) -> Result<String, jid::Error> {
    jid::lite::domain(s).map(|c| c.into_owned())
}
fn lite_resource(s: &str) -> Result<String, jid::Error> {
    jid::lite::resource(s).map(|c| c.into_owned())
}

/// Punycode labels are the one documented difference: the lite check does not decode them.
fn has_punycode_label(domain: &str) -> bool {
    domain
        .split('.')
        .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
}

fn assert_same(s: &str) {
    assert_eq!(lite_node(s), full_node(s), "node {s:?}");
    assert_eq!(lite_resource(s), full_resource(s), "resource {s:?}");
    if !has_punycode_label(s) {
        assert_eq!(lite_domain(s), full_domain(s), "domain {s:?}");
    }
}

#[test]
fn native_build_runs_full_stringprep_and_idna() {
    // What only the tables can do: the server must keep doing it.
    assert_eq!(full_node("Straße").unwrap(), "strasse");
    assert_eq!(full_domain("BÜCHER.example").unwrap(), "bücher.example");
    assert_eq!(full_node("a\u{200B}b").unwrap(), "ab");
    assert!(full_resource("nick\u{202E}").is_err());
    assert!(full_domain("xn--a.example").is_err());
}

#[test]
fn every_ascii_string_of_up_to_two_characters_agrees() {
    assert_same("");
    for a in 0u8..128 {
        assert_same(&char::from(a).to_string());
        for b in 0u8..128 {
            assert_same(&format!("{}{}", char::from(a), char::from(b)));
        }
    }
}

#[test]
fn domain_shapes_agree() {
    let long_label = "a".repeat(63);
    for d in [
        "localhost",
        "conference.localhost",
        "Conference.LocalHost.",
        "localhost..",
        ".localhost",
        "a..b",
        "-a.b",
        "a-.b",
        "ab--c.d",
        "a-b-c.d",
        "under_score.example",
        "127.0.0.1",
        "[::1]",
        "[::1",
        "300.1.1.1",
        &long_label,
        &format!("{long_label}a"),
        &[long_label.as_str(); 4].join("."),
        &["abcdefghij"; 23].join("."),
        &["abcdefghij"; 24].join("."),
    ] {
        assert_same(d);
    }
}

#[test]
fn lite_domain_takes_punycode_labels_without_decoding() {
    assert_eq!(
        lite_domain("XN--bcher-kva.example").unwrap(),
        "xn--bcher-kva.example"
    );
    assert_eq!(jid::lite::domain("xn--.example"), Err(jid::Error::Idna));
}

#[test]
fn lite_passes_non_ascii_through_unmapped() {
    assert_eq!(lite_node("Café").unwrap(), "café");
    assert_eq!(lite_node("Straße").unwrap(), "straße");
    assert_eq!(lite_resource("Zoë 🎉").unwrap(), "Zoë 🎉");
    assert_eq!(lite_domain("bücher.Example").unwrap(), "bücher.example");
    assert_eq!(jid::lite::node("ca fé"), Err(jid::Error::NodePrep));
}

proptest! {
    #[test]
    fn ascii_strings_agree(s in "[\\x00-\\x7f]{0,24}") {
        assert_same(&s);
    }

    #[test]
    fn lite_takes_any_text_without_panicking(s in "\\PC{0,30}") {
        // Non-ASCII goes through unmapped, so only the ASCII part of the promise is checked.
        if let Ok(n) = lite_node(&s) {
            prop_assert!(!n.bytes().any(|b| b.is_ascii_uppercase()));
            prop_assert_eq!(n.to_lowercase(), s.to_lowercase());
        }
        if let Ok(d) = lite_domain(&s) {
            prop_assert!(!d.bytes().any(|b| b.is_ascii_uppercase() || b == b' '));
        }
        if let Ok(r) = lite_resource(&s) {
            prop_assert_eq!(r, s);
        }
    }

    #[test]
    fn jid_like_ascii_agrees(s in "[a-zA-Z0-9._\\-@/ %\"&':<>\\[\\]]{0,40}") {
        assert_same(&s);
    }
}
