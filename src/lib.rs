//! kiro-exporter: per-user Kiro credits and costs from an AWS CUR 2.0 Data Export, for Prometheus.
//!
//! # Layout
//!
//! Data flows one way: the **sources** (the bill, Kiro's activity report, kiro-cli) and the **identity**
//! directory feed the pure **model**, which assembles an immutable **snapshot**; **metrics** turns the
//! published snapshot into its exposition once, and **http** serves it. **refresh** does the reading of one
//! refresh, **app** the wiring and the loops.
//!
//! Imports point down these layers only (lowest first): a module imports only from layers below its own
//! (the modules of one layer do not import each other), and the submodules of one module import each
//! other without a circle. `tests/integration/layers.rs` checks both on the source.
//!
//! 1. [`error`] (error chains, boxed SDK errors), [`exposition`] (the text formats, gzip, the
//!    [`exposition::Families`] trait every live component renders through), [`memory`] (freed memory back
//!    to the OS: the crate's one `unsafe` call), [`shutdown`] (signals).
//! 2. [`identity`]: user ids to names and teams (Identity Center, the users file), cached on its own
//!    interval; the label rules ([`identity::resolve`]).
//! 3. [`model`]: pure rules (plans, credits, overage, costs, right-sizing, roll-up, Bedrock) up to the whole
//!    snapshot ([`snapshot`], re-exported from [`model::snapshot`]: plain data and its pure assembly); no
//!    I/O, most unit tests.
//! 4. [`sql`]: the SQL texts, one per aggregate, portable to Athena, and the typed reading of their results.
//! 5. [`sources`]: where the data comes from, behind small traits ([`sources::CurSource`]: `inspect`
//!    returns the delivery that `query` reads; [`sources::ActivityReports`]). The embedded engine
//!    ([`sources::embedded`]) runs the aggregates in DataFusion over the export's Parquet files, local or
//!    `s3://`; [`sources::athena`] runs them in Athena; [`sources::kiro_cli`] runs `kiro-cli /usage`.
//! 6. [`metrics`]: the snapshot's families, the self-metrics, and the [`metrics::Exposition`] built once
//!    per published snapshot (series count, each format's text and gzip).
//! 7. [`http`]: `/metrics`, `/`, `/-/healthy`, `/-/ready` (a readiness latch), TLS and basic auth.
//! 8. [`config`]: flags, environment and config file, validated per concern into a typed `Config`.
//! 9. [`refresh`] (one refresh's I/O: period choice, unchanged-input skip, queries, activity report) and
//!    [`telemetry`] (logging).
//! 10. [`app`]: wiring (one AWS SDK configuration for every client) and the loops; the only module that
//!     knows concrete sources.
//!
//! The fixture generator (realistic CUR 2.0 exports for the sample, tests and benchmarks) is the dev-only
//! workspace member `kiro-exporter-generate` (`generate/`), not part of this library.

pub mod app;
pub mod config;
pub mod error;
pub mod exposition;
pub mod http;
pub mod identity;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod refresh;
pub mod shutdown;
pub use model::snapshot;
pub mod sources;
pub mod sql;
pub mod telemetry;
