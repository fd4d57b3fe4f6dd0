//! The Prometheus text formats: classic text 0.0.4 and OpenMetrics 1.0.
//!
//! `prometheus-client` (client_rust) only writes OpenMetrics; Prometheus negotiates that, but `curl`,
//! `promtool check metrics` and older scrapers expect the classic format. Both are small, so the exporter
//! owns one model of a metric family and two encoders, with the escaping rules of each format.

pub mod gzip;

use std::fmt::Write as _;

/// Prometheus metric types the exporter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
    /// An info metric: a `_info` sample with value 1 carrying labels.
    Info,
}

/// A label name: static for the exporter's own labels, owned for those named in the configuration
/// (`--bedrock.tag-label`).
pub type LabelName = std::borrow::Cow<'static, str>;

/// One sample of a family. `suffix` is appended to the family name (`_total`, `_bucket`, `_info`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub suffix: &'static str,
    pub labels: Vec<(LabelName, String)>,
    pub value: f64,
}

/// A metric family: name without type suffixes, help text, type, samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Self { name, help, kind, samples: Vec::new() }
    }

    /// Adds a sample with the suffix implied by the family type (`_total` for counters, `_info` for info).
    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.push_named(labels.into_iter().map(|(k, v)| (LabelName::Borrowed(k), v)).collect(), value);
    }

    /// [`Family::push`] with label names that may be owned.
    pub fn push_named(&mut self, labels: Vec<(LabelName, String)>, value: f64) {
        let suffix = match self.kind {
            Kind::Counter => "_total",
            Kind::Info => "_info",
            Kind::Gauge | Kind::Histogram => "",
        };
        self.samples.push(Sample { suffix, labels, value });
    }
}

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// Picks OpenMetrics when the `Accept` header asks for it (as Prometheus does), else classic text.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let wants_om = accept.is_some_and(|a| {
            a.split(',').any(|part| {
                let mut it = part.split(';').map(str::trim);
                let media = it.next().unwrap_or_default();
                let q_zero = it.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f64>().is_ok_and(|q| q <= 0.0)));
                media.eq_ignore_ascii_case("application/openmetrics-text") && !q_zero
            })
        });
        if wants_om { Self::OpenMetrics } else { Self::Text }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Formats a sample value: shortest round-trip decimal, `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v == 0.0 {
        "0".to_owned()
    } else {
        format!("{v}")
    }
}

/// Formats a histogram bound the way both formats expect (`0.5`, `1.0`, `+Inf`).
pub fn format_bound(v: f64) -> String {
    let s = format_value(v);
    if v.is_finite() && v.fract() == 0.0 { format!("{s}.0") } else { s }
}

/// Label values longer than this (in bytes) are cut and end in `…` and a hash of the whole value (so two
/// long values stay two series): a 10,000-character name from a broken directory must not make every
/// scrape huge (Prometheus' `label_value_length_limit` would reject it).
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;

/// Bidi embedding, override and isolate controls, zero-width characters, directional marks, the line and
/// paragraph separators and the byte order mark: invisible, or changing how the rest of a value reads.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn escape_label_value(out: &mut String, v: &str) {
    use sha2::Digest;
    let mut used = 0;
    for c in v.chars() {
        used += c.len_utf8();
        if used > MAX_LABEL_VALUE_BYTES - 20 && v.len() > MAX_LABEL_VALUE_BYTES {
            let hash = sha2::Sha256::digest(v.as_bytes());
            out.push('…');
            out.push_str(&hash.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>());
            return;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            // Other control characters are valid UTF-8 but break terminals and log pipelines; bidi controls
            // and zero-width characters make a value read as another one (`alice\u{202E}exe.txt`).
            c if c.is_control() || is_invisible(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn escape_help(out: &mut String, v: &str, format: Format) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Appends families in `format`. OpenMetrics output is terminated by [`finish`].
pub fn encode(out: &mut String, families: &[Family], format: Format) {
    for f in families {
        if f.samples.is_empty() && f.kind != Kind::Counter {
            continue;
        }
        encode_header(out, f.name, f.help, f.kind, format);
        encode_samples(out, f);
    }
}

/// The `# HELP` and `# TYPE` lines of a family: the part of an exposition that differs between formats.
pub fn encode_header(out: &mut String, name: &str, help: &str, kind: Kind, format: Format) {
    let (type_name, type_word) = match (format, kind) {
        (Format::Text, Kind::Counter) => (format!("{name}_total"), "counter"),
        (Format::Text, Kind::Info) => (format!("{name}_info"), "gauge"),
        (Format::OpenMetrics, Kind::Info) => (name.to_owned(), "info"),
        (_, Kind::Counter) => (name.to_owned(), "counter"),
        (_, Kind::Gauge) => (name.to_owned(), "gauge"),
        (_, Kind::Histogram) => (name.to_owned(), "histogram"),
    };
    out.push_str("# HELP ");
    out.push_str(&type_name);
    out.push(' ');
    escape_help(out, help, format);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {type_name} {type_word}");
}

/// A family's sample lines, the same in both formats.
pub fn encode_samples(out: &mut String, f: &Family) {
    for s in &f.samples {
        out.push_str(f.name);
        out.push_str(s.suffix);
        if !s.labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        out.push_str(&format_value(s.value));
        out.push('\n');
    }
}

/// Ends an exposition (OpenMetrics needs `# EOF`).
pub fn finish(out: &mut String, format: Format) {
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

/// Families rendered live on every scrape (self-metrics, the kiro-cli monitor), next to the snapshot's.
pub trait Families: Send + Sync {
    fn families(&self, now: std::time::SystemTime) -> Vec<Family>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_control_character_label_values_are_bounded() {
        let mut out = String::new();
        let long = "x".repeat(10_000);
        escape_label_value(&mut out, &long);
        assert!(out.len() <= MAX_LABEL_VALUE_BYTES && out.contains('…'), "{}", out.len());
        let mut other = String::new();
        escape_label_value(&mut other, &format!("{long}y"));
        assert_ne!(out, other, "two long values stay two series");
        let mut ctl = String::new();
        escape_label_value(&mut ctl, "a\u{0}b\tc\nd\u{1b}[31m");
        assert_eq!(ctl, "a\u{FFFD}b\u{FFFD}c\\nd\u{FFFD}[31m");
        let mut uni = String::new();
        escape_label_value(&mut uni, &"é".repeat(600));
        assert!(uni.len() <= MAX_LABEL_VALUE_BYTES + 3);
    }

    #[test]
    fn bidi_and_zero_width_characters_are_replaced_like_control_characters() {
        let invisible = [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{2028}', '\u{2029}', '\u{FEFF}',
        ];
        for c in invisible {
            let mut out = String::new();
            escape_label_value(&mut out, &format!("alice{c}txt.exe"));
            assert_eq!(out, "alice\u{FFFD}txt.exe", "U+{:04X}", c as u32);
        }
        // Visible non-ASCII stays as it is.
        let mut out = String::new();
        escape_label_value(&mut out, "José 日本 ü");
        assert_eq!(out, "José 日本 ü");
    }

    #[test]
    fn negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
    }

    #[test]
    fn values() {
        assert_eq!(format_value(1050.25), "1050.25");
        assert_eq!(format_value(1000.0), "1000");
        assert_eq!(format_value(-0.0), "0");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_bound(1.0), "1.0");
        assert_eq!(format_bound(0.25), "0.25");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
    }

    #[test]
    fn escaping_and_types_in_both_formats() {
        let mut c = Family::new("x_events", Kind::Counter, "Events with \"quotes\" and \\ backslash.\nSecond line.");
        c.push(vec![("user", "a\"b\\c\nd ü".into())], 3.0);
        let mut i = Family::new("x_build", Kind::Info, "Build.");
        i.push(vec![("version", "1".into())], 1.0);
        let mut text = String::new();
        encode(&mut text, &[c.clone(), i.clone()], Format::Text);
        finish(&mut text, Format::Text);
        assert_eq!(
            text,
            "# HELP x_events_total Events with \"quotes\" and \\\\ backslash.\\nSecond line.\n\
             # TYPE x_events_total counter\n\
             x_events_total{user=\"a\\\"b\\\\c\\nd ü\"} 3\n\
             # HELP x_build_info Build.\n\
             # TYPE x_build_info gauge\n\
             x_build_info{version=\"1\"} 1\n"
        );
        let mut om = String::new();
        encode(&mut om, &[c, i], Format::OpenMetrics);
        finish(&mut om, Format::OpenMetrics);
        assert!(om.starts_with("# HELP x_events Events with \\\"quotes\\\""), "{om}");
        assert!(om.contains("# TYPE x_events counter\nx_events_total{"));
        assert!(om.contains("# TYPE x_build info\nx_build_info{version=\"1\"} 1\n"));
        assert!(om.ends_with("# EOF\n"));
    }
}
