// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

//! Table-free JID checks, used when the `stringprep` feature is off (the browser build of
//! mucsub, where the Unicode tables of stringprep and IDNA were over a third of the package).
//!
//! On ASCII input these give exactly what nodeprep, resourceprep, nameprep and the UTS 46
//! check of the full build give (mucsub tests this against the full build), with one
//! exception: a Punycode label (`xn--…`) is accepted without decoding it. Non-ASCII
//! characters cannot be mapped or checked without the tables, so they pass through as they
//! are: a client relies on its server, which does the full checks, for their normal form.

use alloc::borrow::Cow;
use alloc::string::String;

use crate::{Error, domain_literal, length_check};

/// ASCII characters nodeprep prohibits besides spaces and controls (RFC 6122, appendix A.5).
const NODE_PROHIBITED: &[u8] = b"\"&'/:<>@";

/// ASCII characters the WHATWG URL forbids in a domain besides spaces and controls (the deny
/// list of the full build's UTS 46 check).
const DOMAIN_PROHIBITED: &[u8] = b"%#/:<>?@[\\]^|";

/// Spaces and controls: U+0000 to U+0020 and U+007F.
fn glyphless(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// Lower-cases ASCII letters, keeping other characters; borrows when nothing changes.
fn ascii_lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut out = String::with_capacity(s.len());
        out.push_str(s);
        out.make_ascii_lowercase();
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// The local part: ASCII is case-folded, spaces, controls and `"&'/:<>@` are refused.
pub fn node(node: &str) -> Result<Cow<'_, str>, Error> {
    if node
        .bytes()
        .any(|b| glyphless(b) || NODE_PROHIBITED.contains(&b))
    {
        return Err(Error::NodePrep);
    }
    let node = ascii_lower(node);
    length_check(node.len(), Error::NodeEmpty, Error::NodeTooLong)?;
    Ok(node)
}

/// The resource: ASCII controls are refused, everything else (spaces too) is kept as is.
pub fn resource(resource: &str) -> Result<Cow<'_, str>, Error> {
    if resource.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(Error::ResourcePrep);
    }
    length_check(resource.len(), Error::ResourceEmpty, Error::ResourceTooLong)?;
    Ok(Cow::Borrowed(resource))
}

/// The domain: IP literals as they are; names need non-empty labels without spaces, controls
/// or URL delimiters, no hyphen first, last or in both third and fourth place (except the
/// `xn--` prefix), and DNS lengths (63 per label, 253 in all) when they are ASCII. ASCII is
/// case-folded.
pub fn domain(domain: &str) -> Result<Cow<'_, str>, Error> {
    let name = match domain_literal(domain) {
        Ok(ip) => return Ok(ip),
        Err(name) => name,
    };
    if name
        .bytes()
        .any(|b| glyphless(b) || DOMAIN_PROHIBITED.contains(&b))
    {
        return Err(Error::Idna);
    }
    if name.is_ascii() && name.len() > 253 {
        return Err(Error::Idna);
    }
    for label in name.split('.') {
        if label.is_empty() || (label.is_ascii() && label.len() > 63) {
            return Err(Error::Idna);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::Idna);
        }
        let mut chars = label.chars().skip(2);
        let hyphens_3_4 = chars.next() == Some('-') && chars.next() == Some('-');
        let punycode = label.is_ascii()
            && label.len() > 4
            && label.as_bytes()[..2].eq_ignore_ascii_case(b"xn");
        if hyphens_3_4 && !punycode {
            return Err(Error::Idna);
        }
    }
    Ok(ascii_lower(name))
}
