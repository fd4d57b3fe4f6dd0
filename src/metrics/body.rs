//! The `/metrics` body: the published snapshot's part, built once when the snapshot is published
//! ([`Exposition`]), followed by the live self-metrics rendered on every scrape.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crate::exposition::gzip::{self, Deflated};
use crate::exposition::{self, Families, Format, Kind};
use crate::snapshot::{Snapshot, Snapshots};

/// A published snapshot and its exposition, built once when the snapshot is published: each family's
/// sample lines (the same in both formats) are rendered period by period, so only one period's families
/// exist at a time and the series are counted as they are written; a scrape writes each family's header
/// for its format and those lines. The deflated form of each format is made on first use and reused by
/// every gzip scrape.
#[derive(Debug)]
pub struct Exposition {
    pub snapshot: Arc<Snapshots>,
    /// Per family, in order: its name, HELP, type, and sample lines.
    families: Vec<(&'static str, &'static str, Kind, String)>,
    series: usize,
    deflated: [OnceLock<Option<Deflated>>; 2],
}

/// The snapshot would export more series than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManySeries {
    /// Series counted when the limit was passed (the rest were not built).
    pub series: usize,
}

fn slot(format: Format) -> usize {
    match format {
        Format::Text => 0,
        Format::OpenMetrics => 1,
    }
}

impl Exposition {
    /// Renders the snapshot's series; refuses a snapshot with more than `max_series` series as soon as the
    /// count passes it, before the remaining periods' series are built.
    pub fn new(snapshot: Arc<Snapshots>, max_series: usize) -> Result<Self, TooManySeries> {
        let mut families: Vec<(&'static str, &'static str, Kind, String)> = Vec::new();
        let mut series = 0;
        // The activity report is up only if it was read for every served month.
        let activity_down = snapshot.periods.iter().any(|p| p.activity_up == Some(false));
        let empty = Snapshot::default();
        let mut periods = snapshot.periods.iter();
        let primary = periods.next().unwrap_or(&empty);
        for (n, period) in std::iter::once(primary).chain(periods).enumerate() {
            let built = super::snapshot_families(period);
            if n == 0 {
                families = built.iter().map(|f| (f.name, f.help, f.kind, String::new())).collect();
            }
            for (into, mut f) in families.iter_mut().zip(built) {
                debug_assert_eq!(into.0, f.name);
                // The exporter-wide gauges describe the newest period.
                if n > 0 && super::bill::EXPORTER_WIDE.contains(&f.name) {
                    continue;
                }
                if activity_down && f.name == "kiro_exporter_activity_report_up" {
                    f.samples.iter_mut().for_each(|s| s.value = 0.0);
                }
                series += f.samples.len();
                if series > max_series {
                    return Err(TooManySeries { series });
                }
                exposition::encode_samples(&mut into.3, &f);
            }
        }
        Ok(Self { snapshot, families, series, deflated: Default::default() })
    }

    /// Samples the snapshot exports.
    pub fn series(&self) -> usize {
        self.series
    }

    /// Appends the snapshot's families in `format`.
    pub fn write(&self, out: &mut String, format: Format) {
        for (name, help, kind, samples) in &self.families {
            if samples.is_empty() && *kind != Kind::Counter {
                continue;
            }
            exposition::encode_header(out, name, help, *kind, format);
            out.push_str(samples);
        }
    }

    /// Bytes of the snapshot's part of a body (close to it: headers vary by format).
    fn size_hint(&self) -> usize {
        self.families.iter().map(|(n, h, _, s)| s.len() + n.len() * 2 + h.len() + 32).sum()
    }

    /// The snapshot's text in `format`, deflated on first use (`None` if compression failed).
    pub fn deflated(&self, format: Format) -> Option<&Deflated> {
        self.deflated[slot(format)]
            .get_or_init(|| {
                let mut text = String::with_capacity(self.size_hint());
                self.write(&mut text, format);
                Deflated::prefix(&text)
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
    let rest = render_live(live, format, now);
    let mut out = String::with_capacity(published.map_or(0, Exposition::size_hint) + rest.len());
    if let Some(e) = published {
        e.write(&mut out, format);
    }
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
