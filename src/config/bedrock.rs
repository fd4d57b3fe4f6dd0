//! Bedrock series: which principal tags become labels, and which role session names are kept.

use super::{BedrockConfig, ConfigError};
use crate::model::bedrock::{SessionNames, tag_labels};

/// Bedrock series.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Bedrock")]
pub struct BedrockArgs {
    /// Label filled from a principal tag, LABEL=TAG_KEY, repeatable (default: team=iamPrincipal/team,
    /// project=iamPrincipal/project, cost_center=iamPrincipal/cost-center).
    #[arg(
        long = "bedrock.tag-label",
        env = "KIRO_EXPORTER_BEDROCK_TAG_LABEL",
        value_name = "LABEL=KEY",
        value_delimiter = ','
    )]
    pub bedrock_tag_labels: Vec<String>,

    /// Which role session names become Bedrock principals: keep, drop (collapse to the role), or
    /// emails-only (keep sessions named like a person; collapse per-request ids to the role).
    #[arg(
        long = "bedrock.session-names",
        env = "KIRO_EXPORTER_BEDROCK_SESSION_NAMES",
        value_enum,
        default_value = "emails-only"
    )]
    pub bedrock_session_names: SessionNames,
}

impl BedrockArgs {
    pub(super) fn validate(&self) -> Result<BedrockConfig, ConfigError> {
        Ok(BedrockConfig {
            tag_labels: tag_labels(&self.bedrock_tag_labels)
                .map_err(|e| ConfigError::Invalid(format!("--bedrock.tag-label: {e}")))?,
            session_names: self.bedrock_session_names,
        })
    }
}
