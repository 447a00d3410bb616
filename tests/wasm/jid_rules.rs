//! What the browser build accepts as a JID. It carries no Unicode tables (vendor/jid, feature
//! `stringprep` off): ASCII is checked and case-folded exactly as the server does it,
//! non-ASCII is taken as the server already normalised it.

use jid::{BareJid, Error, Jid};
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
fn ascii_jids_are_case_folded_like_the_server_does() {
    let room = BareJid::new("Coven@Conference.LocalHost").unwrap();
    assert_eq!(room.as_str(), "coven@conference.localhost");
    let occupant = Jid::new("coven@conference.localhost/Alice Smith").unwrap();
    assert_eq!(occupant.resource().unwrap().as_str(), "Alice Smith");
    assert_eq!(BareJid::new("localhost.").unwrap().as_str(), "localhost");
}

#[wasm_bindgen_test]
fn malformed_ascii_jids_are_refused() {
    assert_eq!(
        BareJid::new("bad room@conference.localhost"),
        Err(Error::NodePrep)
    );
    assert_eq!(BareJid::new("a'b@localhost"), Err(Error::NodePrep));
    assert_eq!(BareJid::new("room@-conference.localhost"), Err(Error::Idna));
    assert_eq!(BareJid::new("room@conference..localhost"), Err(Error::Idna));
    assert_eq!(BareJid::new("room@conf%erence"), Err(Error::Idna));
    assert_eq!(Jid::new("room@muc/a\u{7}b"), Err(Error::ResourcePrep));
    assert_eq!(BareJid::new("@localhost"), Err(Error::NodeEmpty));
    assert!(BareJid::new(&format!("{}@localhost", "a".repeat(1024))).is_err());
}

#[wasm_bindgen_test]
fn server_normalised_unicode_passes_through() {
    let room = BareJid::new("café@conférence.localhost").unwrap();
    assert_eq!(room.as_str(), "café@conférence.localhost");
    let nick = Jid::new("café@conference.localhost/Zoë 🎉").unwrap();
    assert_eq!(nick.resource().unwrap().as_str(), "Zoë 🎉");
    // ASCII letters are still folded; other letters are left to the server.
    assert_eq!(
        BareJid::new("Café@localhost").unwrap().as_str(),
        "café@localhost"
    );
}

#[wasm_bindgen_test]
fn punycode_domains_pass_lower_cased() {
    let jid = BareJid::new("room@XN--bcher-kva.example").unwrap();
    assert_eq!(jid.domain().as_str(), "xn--bcher-kva.example");
}
