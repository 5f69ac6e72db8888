//! The visual models: each one a `metamer_core::Model`, with a config that builds it.

pub(crate) mod activation;
pub(crate) mod center_surround;
pub(crate) mod front_end_host;
pub(crate) mod frontend;
pub(crate) mod gaussian;
pub(crate) mod identity;
pub(crate) mod linear;
pub mod portilla_simoncelli;
