//! The AOF engine (being written).
