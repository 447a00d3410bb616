//! The server's stream parser on arbitrary bytes, fed in arbitrary pieces, under both
//! framings: it must never panic, never yield an element past its limits, and once it
//! reports an error keep reporting it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mucsub_server::xmlstream::{Framing, Limits, StreamEvent, StreamParser};

const LIMITS: Limits = Limits {
    max_stanza: 4096,
    max_depth: 16,
};

fn depth(el: &minidom::Element) -> usize {
    1 + el.children().map(depth).max().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    for framing in [Framing::Stream, Framing::WebSocket] {
        let mut p = StreamParser::new(framing, LIMITS);
        let step = usize::from(split).max(1);
        let mut failed = false;
        for chunk in rest.chunks(step) {
            match p.feed(chunk) {
                Ok(()) => assert!(!failed, "parser recovered after an error"),
                Err(_) => failed = true,
            }
            while let Some(ev) = p.next_event() {
                if let StreamEvent::Stanza(el) = ev {
                    assert!(
                        depth(&el) <= LIMITS.max_depth + 1,
                        "element deeper than the limit"
                    );
                }
            }
        }
    }
});
