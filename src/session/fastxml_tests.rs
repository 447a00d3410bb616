//! The fast path against rxml: whatever it reads must be exactly what rxml reads (same
//! tree, same namespace declarations), and what it leaves must be left to rxml.

use minidom::Element;
use proptest::prelude::*;

use super::parse;

fn rxml(text: &str) -> Result<Element, minidom::Error> {
    text.parse()
}

/// When the fast path reads `text`, rxml reads the same element; returns whether it did.
fn agrees(text: &str) -> bool {
    let Some(fast) = parse(text) else {
        return false;
    };
    let slow =
        rxml(text).unwrap_or_else(|e| panic!("fast path took what rxml refuses ({e}): {text:?}"));
    assert_eq!(fast, slow, "{text:?}");
    assert!(same_declarations(&fast, &slow), "{text:?}");
    true
}

/// Element equality ignores namespace declarations; serialising uses them.
fn same_declarations(a: &Element, b: &Element) -> bool {
    a.prefixes == b.prefixes
        && a.children().count() == b.children().count()
        && a.children()
            .zip(b.children())
            .all(|(x, y)| same_declarations(x, y))
}

#[test]
fn reads_what_servers_send() {
    for text in [
        "<iq xmlns='jabber:client' type='result' id='c1-1'/>",
        r#"<message xmlns="jabber:client" to="bob@localhost/b1" from="coven2@conference.localhost"><result xmlns="urn:xmpp:mam:2" id="1795460995021531" queryid="f1"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" xml:lang="en" from="coven2@conference.localhost/alice" type="groupchat" id="m1"><archived xmlns="urn:xmpp:mam:tmp" by="coven2@conference.localhost" id="1795460995021531"/><stanza-id xmlns="urn:xmpp:sid:0" by="coven2@conference.localhost" id="1795460995021531"/><body>Hello &amp; &lt;subscribers&gt; &quot;all&quot; &apos;x&apos; é ✓</body></message><delay xmlns="urn:xmpp:delay" from="conference.localhost" stamp="2026-11-23T19:09:55.021531Z"/></forwarded></result></message>"#,
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
        "<a xmlns='u' xmlns:p='v'><p:b p:x='1' x='2' xml:lang='en'> <c/>\n</p:b>text</a>",
        "<a xmlns='u' x = \"'\" y='\"' z='a&gt;b'></a >",
        "<a xmlns='u'><b xmlns='w'><c/></b><c/></a>",
    ] {
        assert!(agrees(text), "not taken by the fast path: {text}");
    }
}

#[test]
fn reads_every_reference_stanza_as_rxml_does() {
    let mut taken = 0;
    let lines = crate::test_support::transcript_lines();
    for line in &lines {
        let name_end = line.find([' ', '>', '/']).expect("a tag");
        let text = format!(
            "{} xmlns=\"jabber:client\"{}",
            &line[..name_end],
            &line[name_end..]
        );
        if rxml(&text).is_ok() && agrees(&text) {
            taken += 1;
        }
    }
    assert!(
        taken * 10 >= lines.len() * 9,
        "only {taken} of {} lines taken",
        lines.len()
    );
}

#[test]
fn leaves_the_rest_to_rxml() {
    for text in [
        "<a xmlns='u'><!-- c --></a>",
        "<a xmlns='u'><![CDATA[x]]></a>",
        "<?xml version='1.0'?><a xmlns='u'/>",
        "<a xmlns='u'>&#65;</a>",
        "<a xmlns='u'>&nbsp;</a>",
        "<a xmlns='u'>x\r\ny</a>",
        "<a xmlns='u' x='a\tb'/>",
        "<a xmlns='u' x='1' x='2'/>",
        "<a xmlns='u' xmlns:p='v' xmlns:q='v' p:x='1' q:x='2'/>",
        "<a xmlns='u' p:x='1'/>",
        "<p:a xmlns='u'/>",
        "<a/>",
        "<a xmlns=''/>",
        "<a xmlns='u'>]]></a>",
        "<a xmlns='u'>\u{1}</a>",
        "<a xmlns='u'>\u{fffe}</a>",
        "<a xmlns='u'><b></a></b>",
        "<a xmlns='u'x='1'/>",
        "<a xmlns='u'/> ",
        "<a xmlns='u'/><b/>",
        "<é xmlns='u'/>",
        "<a xmlns='u' x=1/>",
        "<a xmlns='u'",
        "<a xmlns='u'>",
        " <a xmlns='u'/>",
        "",
    ] {
        assert_eq!(parse(text), None, "{text:?}");
    }
}

/// Pieces of markup, valid and not, for random frames.
const PIECES: &[&str] = &[
    "<",
    ">",
    "/",
    "</",
    "/>",
    "a",
    "b",
    "p:a",
    "q:b",
    "xml:lang",
    " ",
    "\n",
    "\t",
    "\r",
    "=",
    "'",
    "\"",
    "xmlns",
    "xmlns:p",
    "xmlns:q",
    "='u'",
    "='v'",
    "=''",
    "&amp;",
    "&lt;",
    "&#65;",
    "&",
    ";",
    "]]>",
    "<!--",
    "-->",
    "<![CDATA[",
    "<?x?>",
    "é",
    "\u{fffe}",
    "\u{1}",
    "x",
    "-",
    ".",
    "1",
    ":",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
}

/// A plain element: the shape the fast path is for.
fn plain(depth: u32) -> BoxedStrategy<String> {
    let name = prop::sample::select(vec!["a", "b", "p:a", "q:c", "x-y.z"]);
    let attr = (
        prop::sample::select(vec!["id", "to", "p:x", "xml:lang", "type"]),
        "[a-z &<>\"'é]{0,6}",
        any::<bool>(),
    )
        .prop_map(|(n, v, dq)| {
            let v = v
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            if dq {
                format!(" {n}=\"{}\"", v.replace('"', "&quot;"))
            } else {
                format!(" {n}='{}'", v.replace('\'', "&apos;"))
            }
        });
    let decls = prop::sample::select(vec![
        " xmlns='u'",
        " xmlns='u' xmlns:p='v'",
        " xmlns:p='v' xmlns:q='w' xmlns='u'",
        " xmlns:q='w'",
        "",
    ]);
    let text = "[a-z \n&<>é✓]{0,8}".prop_map(|t| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    });
    let kids = if depth == 0 {
        Just(Vec::new()).boxed()
    } else {
        prop::collection::vec(prop_oneof![plain(depth - 1), text.clone()], 0..4).boxed()
    };
    (
        name,
        decls,
        prop::collection::vec(attr, 0..3),
        kids,
        any::<bool>(),
    )
        .prop_map(|(name, decls, attrs, kids, short)| {
            let head = format!("<{name}{decls}{}", attrs.concat());
            if short && kids.is_empty() {
                format!("{head}/>")
            } else {
                format!("{head}>{}</{name}>", kids.concat())
            }
        })
        .boxed()
}

proptest! {
    #[test]
    fn random_markup_is_read_as_rxml_reads_it_or_left_to_it(text in soup()) {
        agrees(&text);
    }

    #[test]
    fn plain_elements_are_read_as_rxml_reads_them(
        body in plain(3),
        root_decls in prop::sample::select(vec![" xmlns='u' xmlns:p='v' xmlns:q='w'", " xmlns='u'"]),
    ) {
        let text = format!("<root{root_decls}>{body}</root>");
        let taken = agrees(&text);
        // Everything rxml reads here is plain enough for the fast path (a duplicate
        // attribute is not: rxml keeps the last one).
        if rxml(&text).is_ok() {
            prop_assert!(taken || has_duplicate_attribute(&text), "not taken: {text}");
        }
    }
}

fn has_duplicate_attribute(text: &str) -> bool {
    text.split('<').any(|tag| {
        let names: Vec<&str> = tag
            .split(['=', '>'])
            .filter_map(|p| p.rsplit(' ').next())
            .filter(|n| !n.is_empty())
            .collect();
        (0..names.len()).any(|i| names[i + 1..].contains(&names[i]))
    })
}
