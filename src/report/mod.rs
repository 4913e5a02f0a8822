//! Turning reports into output: JSON wire types (a documented contract with
//! a schema version) and human-readable text.

pub mod inspect;
pub mod json;
pub mod text;
