//! The side-by-side comparison harness behind `bench/compare`: starts each
//! server pinned to a core, drives it with `ringws-bench` pinned to the other,
//! repeats, takes medians, and writes the results JSON, charts and the
//! Markdown tables.

pub mod best_peer;
pub mod charts;
pub mod idle;
pub mod markdown;
pub mod matrix;
pub mod servers;
pub mod summary;
