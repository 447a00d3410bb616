use super::*;

const LIMITS: Limits = Limits {
    max_stanza: 1024,
    max_depth: 8,
};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

fn feed_all(p: &mut StreamParser, data: &[u8]) -> Result<Vec<StreamEvent>, XmlError> {
    p.feed(data)?;
    Ok(std::iter::from_fn(|| p.next_event()).collect())
}

#[test]
fn stream_open_stanza_close_bytewise() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    let doc = format!(
        "{HEADER}<message to='a@b' type='chat'><body>hi &amp; bye</body></message> \
         </stream:stream>"
    );
    let mut events = Vec::new();
    for b in doc.as_bytes() {
        events.extend(feed_all(&mut p, std::slice::from_ref(b)).unwrap());
    }
    assert_eq!(events.len(), 3);
    match &events[0] {
        StreamEvent::Open(a) => assert_eq!(a.get("to").map(String::as_str), Some("localhost")),
        e => panic!("{e:?}"),
    }
    match &events[1] {
        StreamEvent::Stanza(el) => {
            assert!(el.is("message", "jabber:client"));
            assert_eq!(el.attr("to"), Some("a@b"));
            assert_eq!(
                el.get_child("body", "jabber:client").unwrap().text(),
                "hi & bye"
            );
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(events[2], StreamEvent::Close);
}

#[test]
fn wrong_root_namespace() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    let e = feed_all(&mut p, b"<stream:stream xmlns:stream='urn:bogus'>").unwrap_err();
    assert_eq!(e.condition(), "invalid-namespace");
}

#[test]
fn dtd_and_entities_are_restricted() {
    let laughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>\
        <!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>\
        <stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol2;";
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    assert_eq!(
        feed_all(&mut p, laughs.as_bytes()).unwrap_err().condition(),
        "restricted-xml"
    );
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    let doc = format!("{HEADER}<message>&foo;</message>");
    assert_eq!(
        feed_all(&mut p, doc.as_bytes()).unwrap_err().condition(),
        "restricted-xml"
    );
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    let doc = format!("{HEADER}<!-- hi -->");
    assert_eq!(
        feed_all(&mut p, doc.as_bytes()).unwrap_err().condition(),
        "restricted-xml"
    );
}

#[test]
fn size_limit_applies_while_parsing() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    feed_all(&mut p, HEADER.as_bytes()).unwrap();
    feed_all(&mut p, b"<message><body>").unwrap();
    let chunk = [b'x'; 100];
    let mut err = None;
    for _ in 0..20 {
        if let Err(e) = feed_all(&mut p, &chunk) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err.unwrap().condition(), "policy-violation");
    // Stays failed.
    assert!(p.feed(b"</body></message>").is_err());
}

#[test]
fn budget_resets_per_stanza() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    feed_all(&mut p, HEADER.as_bytes()).unwrap();
    let stanza = format!("<message><body>{}</body></message>", "y".repeat(900));
    for _ in 0..5 {
        let ev = feed_all(&mut p, stanza.as_bytes()).unwrap();
        assert_eq!(ev.len(), 1);
    }
}

#[test]
fn whitespace_keepalives_do_not_accumulate() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    feed_all(&mut p, HEADER.as_bytes()).unwrap();
    for _ in 0..5000 {
        feed_all(&mut p, b" ").unwrap();
    }
    let ev = feed_all(&mut p, b"<presence/>").unwrap();
    assert_eq!(ev.len(), 1);
}

#[test]
fn depth_limit() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    let doc = format!("{HEADER}{}", "<a>".repeat(10_000));
    let e = feed_all(&mut p, doc.as_bytes()).unwrap_err();
    assert_eq!(e.condition(), "policy-violation");
}

#[test]
fn invalid_utf8() {
    let mut p = StreamParser::new(Framing::Stream, LIMITS);
    let mut doc = HEADER.as_bytes().to_vec();
    doc.extend_from_slice(b"<message><body>\xff\xfe</body></message>");
    assert_eq!(
        feed_all(&mut p, &doc).unwrap_err().condition(),
        "not-well-formed"
    );
}

#[test]
fn websocket_frames() {
    let mut p = StreamParser::new(Framing::WebSocket, LIMITS);
    let ev = feed_all(
        &mut p,
        b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
    )
    .unwrap();
    assert!(matches!(&ev[..], [StreamEvent::Open(a)] if a["to"] == "localhost"));
    let ev = feed_all(
        &mut p,
        b"<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    .unwrap();
    assert!(matches!(&ev[..], [StreamEvent::Stanza(el)] if el.name() == "iq"));
    let ev = feed_all(
        &mut p,
        b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
    )
    .unwrap();
    assert_eq!(ev, vec![StreamEvent::Close]);
    // A truncated frame is not well-formed.
    let mut p = StreamParser::new(Framing::WebSocket, LIMITS);
    assert_eq!(
        feed_all(&mut p, b"<message xmlns='jabber:client'>")
            .unwrap_err()
            .condition(),
        "not-well-formed"
    );
    let mut p = StreamParser::new(Framing::WebSocket, LIMITS);
    let big = format!(
        "<message xmlns='jabber:client'><body>{}</body></message>",
        "z".repeat(2000)
    );
    assert_eq!(
        feed_all(&mut p, big.as_bytes()).unwrap_err().condition(),
        "policy-violation"
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn events_of(chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, XmlError> {
        let mut p = StreamParser::new(Framing::Stream, LIMITS);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(feed_all(&mut p, c)?);
        }
        Ok(out)
    }

    proptest! {
        /// However the bytes are split across reads, the same events come out.
        #[test]
        fn chunking_does_not_matter(cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let doc = format!(
                "{HEADER}<message to='a@b'><body>x &lt; y</body><x xmlns='urn:e' a='1'/></message>\
                 <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>"
            );
            let bytes = doc.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts {
                chunks.push(&bytes[last..c]);
                last = c;
            }
            chunks.push(&bytes[last..]);
            let whole = events_of(&[bytes]).unwrap();
            prop_assert_eq!(whole.len(), 4);
            prop_assert_eq!(events_of(&chunks).unwrap(), whole);
        }

        /// Arbitrary bytes after a valid header never panic, and a failed stream stays
        /// failed with the same condition.
        #[test]
        fn arbitrary_input_is_handled(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut p = StreamParser::new(Framing::Stream, LIMITS);
            feed_all(&mut p, HEADER.as_bytes()).unwrap();
            if let Err(e) = feed_all(&mut p, &data) {
                prop_assert_eq!(p.feed(b"<message/>").unwrap_err(), e);
            }
            let mut w = StreamParser::new(Framing::WebSocket, LIMITS);
            if let Err(e) = feed_all(&mut w, &data) {
                prop_assert_eq!(w.feed(b"<message xmlns='jabber:client'/>").unwrap_err(), e);
            }
        }
    }
}
