//! kiro-exporter: per-user Kiro credits and costs from an AWS CUR 2.0 Data Export, for Prometheus.
//!
//! # Layout
//!
//! Data flows one way: **sources -> identity -> model -> snapshot -> metrics -> http**.
//!
//! - [`sources`]: where the bill comes from, behind the [`sources::CurSource`] trait. The embedded engine
//!   ([`sources::embedded`]) runs the aggregates in DataFusion over the export's Parquet files, local or
//!   `s3://`. [`sql`] holds the SQL texts, one per aggregate, portable to Athena.
//! - [`identity`]: user ids to names and teams (Identity Center, the users file), cached on its own interval.
//! - [`model`]: pure rules (plans, credits, overage, costs, right-sizing, roll-up); no I/O, most unit tests.
//! - [`snapshot`]: the immutable result of one successful refresh, published via `tokio::sync::watch`.
//! - [`refresh`]: one refresh (period choice, unchanged-input skip, query, model).
//! - [`metrics`]: the exposition formats, the snapshot's series and the self-metrics.
//! - [`http`]: `/metrics`, `/`, `/-/healthy`, `/-/ready`.
//! - [`app`]: wiring and the refresh loop; the only module that knows concrete sources.
//! - [`config`], [`telemetry`], [`shutdown`]: flags and config file, logging, signals.
//! - [`generate`]: a deterministic generator of realistic CUR 2.0 exports (sample data, tests, benchmarks).

pub mod app;
pub mod config;
pub mod error;
pub mod exposition;
pub mod generate;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod model;
pub mod refresh;
pub mod shutdown;
pub use model::snapshot;
pub mod sources;
pub mod sql;
pub mod telemetry;
