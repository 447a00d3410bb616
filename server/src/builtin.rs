//! The modules this server is built with, in start order: the one place that names them
//! (as Prosody's `modules_enabled`). Each registers its own features, IQ handlers, routes
//! and components through [`crate::module`]; the core knows none of them.

use crate::module::Module;

pub(crate) const MODULES: &[&dyn Module] = &[
    &crate::push::module::PushModule,
    &crate::muc::MucModule,
    &crate::api::ApiModule,
];
