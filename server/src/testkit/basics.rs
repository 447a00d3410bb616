//! What every part of the kit shares: the generous timeout, the panic counter, and XML
//! snippets written without a namespace.

use minidom::Element;
use std::time::Duration;

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static HOOK: std::sync::Once = std::sync::Once::new();

/// Counts panics in this process (server tasks included, whose panics tokio would
/// otherwise only print) from the first `TestServer::start` on.
pub fn panics() -> usize {
    PANICS.load(std::sync::atomic::Ordering::SeqCst)
}

pub(super) fn count_panics() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            default(info);
        }));
    });
}

/// Parses an XML snippet written without `xmlns` as `jabber:client`.
pub fn xml_with_ns(xml: &str) -> Element {
    let wrapped = format!("<w xmlns='jabber:client'>{xml}</w>");
    let w: Element = wrapped.parse().expect("valid XML snippet");
    w.children().next().cloned().expect("one element")
}

/// The SASL mechanisms a `<features/>` element offers, in order (none: empty).
pub fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", crate::ns::SASL)
        .map(|m| m.children().map(|c| c.text()).collect())
        .unwrap_or_default()
}
