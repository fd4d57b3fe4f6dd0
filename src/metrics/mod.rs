//! What `/metrics` shows: the bill's series from the published snapshot, and the exporter's own metrics.
//!
//! - [`bill`]: the snapshot's families (cost, credits, right-sizing, Bedrock, freshness); users who vanish
//!   from the bill vanish from `/metrics`; no sample timestamps, freshness is its own gauge.
//! - [`process`]: the `process_*` families (CPU, memory, file descriptors, start time) from `/proc`.
//! - [`self_metrics`]: counters, gauges and the refresh duration histogram, updated by the refresh loop.
//! - [`body`]: the [`Exposition`] built once per published snapshot (families, series count, each format's
//!   text and gzip), and the body of a scrape (that cached part plus the live families).
//!
//! The text formats themselves are in [`crate::exposition`].

pub mod bill;
pub mod body;
pub mod process;
pub mod self_metrics;

pub use bill::snapshot_families;
pub use body::{Exposition, TooManySeries, render, render_gzip};
pub use process::ProcessMetrics;
pub use self_metrics::{RefreshResult, SelfMetrics};
