//! Cost as the organisation pays it: the cost basis, and the allocation of account-level amounts.

use super::{ConfigError, CostConfig};
use crate::model::cost::CostBasis;

/// Cost basis and allocation.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Cost")]
pub struct CostArgs {
    /// Which cost the *_cost_usd series sum: net (line_item_net_unblended_cost, after discounts; the
    /// unblended cost where the export has no net column) or unblended (list price).
    #[arg(long = "cost.basis", env = "KIRO_EXPORTER_COST_BASIS", value_enum, default_value = "net")]
    pub cost_basis: CostBasis,

    /// Spread each account's Kiro amounts without a user (discount line items, tax, ...) over its licences
    /// in proportion to their cost, as kiro_allocated_cost_usd, so per-team sums equal the account's total.
    #[arg(long = "cost.allocate-account-level", env = "KIRO_EXPORTER_COST_ALLOCATE_ACCOUNT_LEVEL")]
    pub allocate_account_level: bool,
}

impl CostArgs {
    pub(super) fn validate(&self) -> Result<CostConfig, ConfigError> {
        Ok(CostConfig { basis: self.cost_basis, allocate_account_level: self.allocate_account_level })
    }
}
