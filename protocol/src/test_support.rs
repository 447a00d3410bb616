//! Test helpers: the ejabberd reference transcripts live in `../shared` next to the
//! repository (this crate is one level down, in `protocol/`). Compiled for this crate's own
//! tests and, with the `test-support` feature, for the tests of the crates that use it.

use minidom::Element;

/// Every `[who] <stanza…>` line of both reference transcripts, without the `[who] ` prefix.
pub fn transcript_lines() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/ejabberd-23.01");
    let mut out = Vec::new();
    for name in ["scenario-basic.txt", "scenario-rules.txt"] {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("reading {name}: {e}"));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix('[') {
                if let Some((_, stanza)) = rest.split_once("] ") {
                    out.push(stanza.to_owned());
                }
            }
        }
    }
    out
}

/// The transcripts print top-level stanzas without their stream's default namespace.
pub fn parse_line(line: &str) -> Element {
    let name_end = line.find([' ', '>', '/']).expect("a tag");
    let with_ns = format!(
        "{} xmlns=\"jabber:client\"{}",
        &line[..name_end],
        &line[name_end..]
    );
    with_ns
        .parse()
        .unwrap_or_else(|e| panic!("unparsable transcript line {e}: {line}"))
}
