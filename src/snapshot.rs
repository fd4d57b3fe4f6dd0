//! The immutable result of one successful refresh, published to the HTTP side as `Arc<Snapshot>`.
//!
//! A snapshot holds everything `/metrics` shows about the bill; it is rendered once per format and the
//! text reused by every scrape until the next snapshot replaces it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use crate::metrics::exposition::Format;
use crate::model::rightsizing::RightSizing;
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

/// What one successful refresh produced.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub period: Option<BillingPeriod>,
    pub selection: Option<PeriodSelection>,
    pub kiro: KiroReport,
    pub rightsizing: RightSizing,
    /// user id -> `user` label value.
    pub user_labels: BTreeMap<String, String>,
    rendered: [OnceLock<String>; 2],
}

impl Snapshot {
    pub fn new(
        period: BillingPeriod,
        selection: PeriodSelection,
        kiro: KiroReport,
        rightsizing: RightSizing,
        user_labels: BTreeMap<String, String>,
    ) -> Self {
        Self {
            period: Some(period),
            selection: Some(selection),
            kiro,
            rightsizing,
            user_labels,
            rendered: Default::default(),
        }
    }

    /// The `user` label for a user id (the id itself when unresolved).
    pub fn user_label<'a>(&'a self, user_id: &'a str) -> &'a str {
        self.user_labels.get(user_id).map_or(user_id, String::as_str)
    }

    /// The snapshot's families in `format`, rendered on first use.
    pub fn rendered(&self, format: Format) -> &str {
        let slot = match format {
            Format::Text => &self.rendered[0],
            Format::OpenMetrics => &self.rendered[1],
        };
        slot.get_or_init(|| {
            let mut out = String::new();
            crate::metrics::exposition::encode(&mut out, &crate::metrics::snapshot_families(self), format);
            out
        })
    }
}
