//! JIDs a user typed, brought to the form the server uses before the browser build's JID
//! checks see them. The browser build carries no stringprep tables (vendor/jid, `lite.rs`):
//! ASCII is case-folded and checked exactly as the server does, but non-ASCII passes as it
//! is, so `Café@…` or a decomposed `é` would name a different room in the store than the
//! `café@…` the server sends back. The browser's own Unicode data does the mapping instead:
//! each part goes through `String.prototype.normalize('NFKC')` (stringprep's normalisation)
//! and the local and domain parts through `toLowerCase` (its case folding, except for the
//! few characters whose full case folding differs, like `ß`, which the server then maps).
//! The parts are split first, and a separator that NFKC makes out of another character (`＠`,
//! `／`) inside the local part or the domain is written as a character the checks refuse
//! there (as nodeprep and the IDNA check refuse it), never as a new separator.

use js_sys::JsString;

/// `text` with its parts normalised; ASCII (nearly every JID) is returned untouched.
pub(crate) fn user_jid(text: String) -> String {
    if text.is_ascii() {
        return text;
    }
    let (bare, resource) = match text.split_once('/') {
        Some((b, r)) => (b, Some(r)),
        None => (&*text, None),
    };
    let (node, domain) = match bare.split_once('@') {
        Some((n, d)) => (Some(n), d),
        None => (None, bare),
    };
    let mut out = String::with_capacity(text.len());
    if let Some(node) = node {
        out.push_str(&folded(node, '"'));
        out.push('@');
    }
    out.push_str(&folded(domain, '%'));
    if let Some(resource) = resource {
        out.push('/');
        out.push_str(&nfkc(resource));
    }
    out
}

fn nfkc(part: &str) -> String {
    if part.is_ascii() {
        return part.to_owned();
    }
    JsString::from(part).normalize("NFKC").into()
}

/// NFKC, lower case, NFKC again (lower-casing can undo a composition); `@` and `/` that
/// came out of it become `refused`, a character the part's check refuses.
fn folded(part: &str, refused: char) -> String {
    if part.is_ascii() {
        return part.to_owned();
    }
    let s = JsString::from(part).normalize("NFKC").to_lower_case();
    String::from(s.normalize("NFKC")).replace(['@', '/'], &refused.to_string())
}

#[cfg(test)]
mod tests {
    use super::user_jid;
    use jid::{BareJid, Error, Jid};
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn bare(s: &str) -> Result<String, Error> {
        BareJid::new(&user_jid(s.to_owned())).map(|j| j.as_str().to_owned())
    }

    #[wasm_bindgen_test]
    fn what_a_user_types_reaches_the_servers_form() {
        // Upper case and decomposed accents, in the local part and the domain.
        assert_eq!(
            bare("CAFE\u{301}@Confe\u{301}rence.Localhost").unwrap(),
            "café@conférence.localhost"
        );
        assert_eq!(bare("Ωμέγα@muc.localhost").unwrap(), "ωμέγα@muc.localhost");
        // Compatibility forms: fullwidth letters, ligatures.
        assert_eq!(
            bare("ＲＯＯＭé@muc.localhost").unwrap(),
            "roomé@muc.localhost"
        );
        assert_eq!(bare("ﬁlé@muc.localhost").unwrap(), "filé@muc.localhost");
        // The resource keeps its case; NFKC only.
        let full = Jid::new(&user_jid("café@muc.localhost/Zoe\u{308} ＡＢ".into())).unwrap();
        assert_eq!(full.resource().unwrap().as_str(), "Zoë AB");
        // ASCII is left to the checks, which fold it as before.
        assert_eq!(user_jid("Room@MUC.localhost".into()), "Room@MUC.localhost");
        assert_eq!(bare("Room@MUC.localhost").unwrap(), "room@muc.localhost");
    }

    #[wasm_bindgen_test]
    fn what_normalises_into_a_forbidden_character_is_refused() {
        // No-break and ideographic spaces become spaces: refused in a local part.
        assert_eq!(
            bare("caf\u{e9}\u{a0}bar@muc.localhost"),
            Err(Error::NodePrep)
        );
        assert_eq!(bare("café\u{3000}bar@muc.localhost"), Err(Error::NodePrep));
        // A fullwidth @ stays in the local part, where it is refused, not a new separator.
        assert_eq!(bare("é＠evil@muc.localhost"), Err(Error::NodePrep));
        // A fullwidth slash or colon in the domain is refused there.
        assert_eq!(bare("é@muc／x.localhost"), Err(Error::Idna));
        assert_eq!(bare("é@muc：1.localhost"), Err(Error::Idna));
        // Controls in a resource are still refused.
        assert_eq!(
            Jid::new(&user_jid("é@muc.localhost/a\u{7}é".into())),
            Err(Error::ResourcePrep)
        );
    }
}
