//! The modules this server is built with, in start order: the one place that names them
//! (as Prosody's `modules_enabled`). Each registers its own features, IQ handlers, routes
//! and components through [`crate::module`]; the core knows none of them.

use crate::config::Config;
use crate::module::Module;

pub(crate) const MODULES: &[&dyn Module] = &[
    &crate::push::module::PushModule,
    &crate::muc::MucModule,
    &crate::pep::PepModule,
    &crate::metrics::module::MetricsModule,
    &crate::api::ApiModule,
];

/// Every config key with its default, as JSON (`null`: unset by default): the core's
/// tables from [`Config::default`], each module's own table (`[muc]`, `[push]`, …) from its
/// [`Module::config_defaults`]. A module table no module describes stays an empty object.
/// What `docs/configuration.md` must list (`tests/config_docs.rs`).
pub fn config_defaults() -> serde_json::Value {
    let mut v = serde_json::to_value(Config::default()).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        for m in MODULES {
            if let Some((table, defaults)) = m.config_defaults() {
                obj.insert(table.to_owned(), defaults);
            }
        }
    }
    v
}
