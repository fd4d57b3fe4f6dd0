//! The aggregation model: pure functions from query rows to what the metrics say, up to the whole
//! snapshot ([`snapshot::assemble`]).
//!
//! Nothing here touches the network, the clock or the file system, so every rule is unit-tested with
//! hand-computed values.

pub mod activity;
pub mod bedrock;
pub mod cost;
pub mod daily;
pub mod kiro;
pub mod period;
pub mod plans;
pub mod region;
pub mod rightsizing;
pub mod rows;
pub mod snapshot;
#[cfg(test)]
mod testutil;

pub use kiro::{KiroLine, KiroReport, Licence, LicenceKey, ReportBuilder, build_report};
pub use period::BillingPeriod;
pub use plans::{PlanCatalog, PlanSpec};
