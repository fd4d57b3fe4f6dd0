//! Who the user ids are: the users file, IAM Identity Center, and how the `user` and `team` labels are
//! derived.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, IdentityConfig};
use crate::identity::resolve::{LabelRules, UserLabel};

/// Identity resolution.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Identity")]
pub struct IdentityArgs {
    /// JSONL users file (`aws identitystore list-users` output, one {"Username","UserId"} per line, optionally
    /// with Email, DisplayName, Team); overrides Identity Center where both name a user.
    #[arg(long = "identity.users-file", env = "KIRO_EXPORTER_IDENTITY_USERS_FILE", value_name = "FILE")]
    pub users_file: Option<PathBuf>,

    /// Resolve user ids through IAM Identity Center (identitystore ListUsers, group memberships).
    #[arg(long = "identity.identity-center", env = "KIRO_EXPORTER_IDENTITY_IDENTITY_CENTER")]
    pub identity_center: bool,

    /// Identity store id (d-xxxxxxxxxx); implies --identity.identity-center; default: discovered with
    /// sso-admin ListInstances.
    #[arg(long = "identity.store-id", env = "KIRO_EXPORTER_IDENTITY_STORE_ID", value_name = "ID")]
    pub store_id: Option<String>,

    /// Regex selecting team groups; the first capture group (or the whole match) is the team, e.g. ^team-(.+)$.
    #[arg(
        long = "identity.team-group-pattern",
        env = "KIRO_EXPORTER_IDENTITY_TEAM_GROUP_PATTERN",
        value_name = "REGEX"
    )]
    pub team_group_pattern: Option<String>,

    /// Team of users in no matching group.
    #[arg(
        long = "identity.default-team",
        env = "KIRO_EXPORTER_IDENTITY_DEFAULT_TEAM",
        default_value = "",
        value_name = "TEAM"
    )]
    pub default_team: String,

    /// What the `user` label shows.
    #[arg(
        long = "identity.user-label",
        env = "KIRO_EXPORTER_IDENTITY_USER_LABEL",
        value_enum,
        default_value = "username"
    )]
    pub user_label: UserLabel,

    /// Salt of --identity.user-label=hash (required with it; keep it secret and stable).
    #[arg(
        long = "identity.hash-salt",
        env = "KIRO_EXPORTER_IDENTITY_HASH_SALT",
        value_name = "SALT",
        hide_env_values = true
    )]
    pub hash_salt: Option<String>,

    /// Region of IAM Identity Center (default: --aws.region, else the AWS configuration chain).
    #[arg(long = "identity.region", env = "KIRO_EXPORTER_IDENTITY_REGION", value_name = "REGION")]
    pub identity_region: Option<String>,

    /// How often to re-read the identity directory.
    #[arg(long = "identity.refresh-interval", env = "KIRO_EXPORTER_IDENTITY_REFRESH_INTERVAL", default_value = "6h", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub identity_refresh_interval: Duration,
}

impl IdentityArgs {
    /// `aws_region`: `--aws.region`, Identity Center's default region.
    pub(super) fn validate(&self, aws_region: Option<&String>) -> Result<IdentityConfig, ConfigError> {
        let invalid = ConfigError::Invalid;
        let team_pattern = self
            .team_group_pattern
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| invalid(format!("--identity.team-group-pattern: {e}")))?;
        let hash_salt = self.hash_salt.clone().unwrap_or_default();
        if self.user_label == UserLabel::Hash && hash_salt.is_empty() {
            return Err(invalid(
                "--identity.user-label=hash needs --identity.hash-salt (a secret, stable value)".into(),
            ));
        }
        if self.identity_refresh_interval < Duration::from_secs(1) {
            return Err(invalid("--identity.refresh-interval must be at least 1s".into()));
        }
        Ok(IdentityConfig {
            users_file: self.users_file.clone(),
            region: self.identity_region.clone().or_else(|| aws_region.cloned()),
            identity_center: (self.identity_center || self.store_id.is_some())
                .then(|| self.store_id.clone().filter(|s| !s.trim().is_empty())),
            rules: LabelRules {
                user_label: self.user_label,
                team_pattern,
                default_team: self.default_team.clone(),
                hash_salt,
            },
            refresh_interval: self.identity_refresh_interval,
        })
    }
}
