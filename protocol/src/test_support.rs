//! Test helpers: the ejabberd reference transcripts live in `../shared` next to the
//! repository (this crate is one level down, in `protocol/`). Compiled for this crate's own
//! tests and, with the `test-support` feature, for the tests of the crates that use it.

use minidom::Element;

/// Every `[who] <stanza…>` line of both reference transcripts, without the `[who] ` prefix.
pub fn transcript_lines() -> Vec<String> {
    let dir = transcripts_dir();
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

/// `shared/reference/ejabberd-23.01` in the nearest ancestor of the package being tested
/// that has it. Found from `CARGO_MANIFEST_DIR` as cargo sets it for the run (the crate that
/// calls this may be another one of the workspace), not as it was at compile time: a test
/// binary reused from a build of another checkout (CI keeps its target directory across
/// fresh clones) would otherwise look next to that checkout.
fn transcripts_dir() -> std::path::PathBuf {
    const DIR: &str = "shared/reference/ejabberd-23.01";
    let compiled = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    let starts: Vec<std::path::PathBuf> = running.into_iter().chain([compiled.clone()]).collect();
    starts
        .iter()
        .flat_map(|start| start.ancestors())
        .map(|a| a.join(DIR))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| compiled.join("../..").join(DIR))
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
