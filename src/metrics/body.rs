//! The `/metrics` body: the published snapshot's part, built once when the snapshot is published
//! ([`Exposition`]), followed by the live self-metrics rendered on every scrape.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crate::exposition::gzip::{self, Deflated};
use crate::exposition::{self, Families, Family, Format};
use crate::snapshot::Snapshots;

/// A published snapshot and its exposition: the families are built once (and their series counted) when
/// the snapshot is published; each format's text is rendered from them on first use and reused by every
/// scrape, and so is its deflated form for gzip scrapes.
#[derive(Debug)]
pub struct Exposition {
    pub snapshot: Arc<Snapshots>,
    families: Vec<Family>,
    series: usize,
    text: [OnceLock<String>; 2],
    deflated: [OnceLock<Option<Deflated>>; 2],
}

/// The snapshot would export more series than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManySeries {
    pub series: usize,
}

fn slot(format: Format) -> usize {
    match format {
        Format::Text => 0,
        Format::OpenMetrics => 1,
    }
}

impl Exposition {
    /// Builds the snapshot's families once; refuses (before any text is rendered) a snapshot with more than
    /// `max_series` series.
    pub fn new(snapshot: Arc<Snapshots>, max_series: usize) -> Result<Self, TooManySeries> {
        let families = super::families(&snapshot);
        let series = families.iter().map(|f| f.samples.len()).sum();
        if series > max_series {
            return Err(TooManySeries { series });
        }
        Ok(Self { snapshot, families, series, text: Default::default(), deflated: Default::default() })
    }

    /// Samples the snapshot exports.
    pub fn series(&self) -> usize {
        self.series
    }

    /// The snapshot's families in `format`, rendered on first use.
    pub fn text(&self, format: Format) -> &str {
        self.text[slot(format)].get_or_init(|| {
            let mut out = String::new();
            exposition::encode(&mut out, &self.families, format);
            out
        })
    }

    /// The snapshot's text in `format`, deflated on first use (`None` if compression failed).
    pub fn deflated(&self, format: Format) -> Option<&Deflated> {
        self.deflated[slot(format)]
            .get_or_init(|| {
                Deflated::prefix(self.text(format))
                    .map_err(|e| tracing::warn!(error = %e, "cannot compress the snapshot; serving it uncompressed"))
                    .ok()
            })
            .as_ref()
    }
}

/// The live families and the format's ending: the part of a body rendered on every scrape.
fn render_live(live: &[&dyn Families], format: Format, now: SystemTime) -> String {
    let mut out = String::with_capacity(4096);
    for source in live {
        exposition::encode(&mut out, &source.families(now), format);
    }
    exposition::finish(&mut out, format);
    out
}

/// The whole `/metrics` body: the snapshot's cached rendering plus the live families.
pub fn render(published: Option<&Exposition>, live: &[&dyn Families], format: Format, now: SystemTime) -> String {
    let cached = published.map(|e| e.text(format)).unwrap_or_default();
    let rest = render_live(live, format, now);
    let mut out = String::with_capacity(cached.len() + rest.len());
    out.push_str(cached);
    out.push_str(&rest);
    out
}

/// The same body gzip-compressed, reusing the snapshot's cached deflated text; `None` if compression
/// failed (serve it uncompressed then).
pub fn render_gzip(
    published: Option<&Exposition>,
    live: &[&dyn Families],
    format: Format,
    now: SystemTime,
) -> Option<Vec<u8>> {
    let rest = render_live(live, format, now);
    let empty;
    let prefix = match published {
        Some(e) => e.deflated(format)?,
        None => {
            empty = gzip::Deflated::prefix("").ok()?;
            &empty
        }
    };
    gzip::gzip(prefix, &rest).ok()
}
