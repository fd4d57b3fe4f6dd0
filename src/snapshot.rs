//! The immutable result of one successful refresh, published to the HTTP side as `Arc<Snapshot>`.
//!
//! A snapshot holds everything `/metrics` shows about the bill; it is rendered once per format and the
//! text reused by every scrape until the next snapshot replaces it.

use std::fmt;
use std::sync::OnceLock;

use crate::identity::resolve::UserLabels;
use crate::metrics::exposition::Format;
use crate::metrics::gzip::Deflated;
use crate::model::bedrock::BedrockRows;
use crate::model::rows::Rows;
use crate::model::{BillingPeriod, KiroReport};

/// How the billing period of a snapshot was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSelection {
    /// `--billing-period` was given.
    Pinned,
    /// The current UTC month, which has data.
    Current,
    /// The latest period in the export, because the current month has no data yet.
    Latest,
}

impl fmt::Display for PeriodSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pinned => "pinned",
            Self::Current => "current",
            Self::Latest => "latest",
        })
    }
}

/// The snapshot's text per format, rendered on first use, and its deflated form for gzip scrapes.
#[derive(Debug, Default)]
pub struct Rendered([OnceLock<String>; 2], [OnceLock<Option<Deflated>>; 2]);

/// What one successful refresh produced.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub period: Option<BillingPeriod>,
    pub selection: Option<PeriodSelection>,
    /// The bill's Kiro figures (licences without labels, account-level costs, freshness).
    pub kiro: KiroReport,
    /// The exported per-licence rows (labels, signals, roll-up applied).
    pub rows: Rows,
    /// Per user id: labels and the number of seat-holding licences.
    pub duplicates: Vec<(String, UserLabels, u32)>,
    /// Users in the bill that the identity directory does not know (`None`: no directory configured).
    pub unresolved_users: Option<usize>,
    /// The Bedrock series (labels, cross-links, roll-up applied).
    pub bedrock: BedrockRows,
    /// Names of the Bedrock tag labels, in the order of `BedrockKey::tags`.
    pub bedrock_tag_labels: Vec<&'static str>,
    /// Whether the export has `line_item_iam_principal` (Bedrock cost per principal).
    pub bedrock_principal_data: bool,
    /// The activity report's latest `Date` per (account, region); `None` when no report is configured.
    pub activity_last_date: Option<std::collections::BTreeMap<(String, String), i64>>,
    /// Whether the activity report was read this time (`None`: not configured).
    pub activity_up: Option<bool>,
    pub rendered: Rendered,
}

impl Snapshot {
    /// The snapshot's families in `format`, deflated on first use (`None` if compression failed).
    pub fn deflated(&self, format: Format) -> Option<&Deflated> {
        self.rendered.1[Self::slot(format)]
            .get_or_init(|| {
                Deflated::prefix(self.rendered(format))
                    .map_err(|e| tracing::warn!(error = %e, "cannot compress the snapshot; serving it uncompressed"))
                    .ok()
            })
            .as_ref()
    }

    fn slot(format: Format) -> usize {
        match format {
            Format::Text => 0,
            Format::OpenMetrics => 1,
        }
    }

    /// The snapshot's families in `format`, rendered on first use.
    pub fn rendered(&self, format: Format) -> &str {
        let slot = &self.rendered.0[Self::slot(format)];
        slot.get_or_init(|| {
            let mut out = String::new();
            crate::metrics::exposition::encode(&mut out, &crate::metrics::snapshot_families(self), format);
            out
        })
    }
}
