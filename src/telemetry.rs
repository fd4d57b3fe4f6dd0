//! Logging: logfmt (the Prometheus ecosystem's default) or JSON, on stderr.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogLevel};

/// Installs the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    // Dependencies (DataFusion, the AWS SDK) log at debug and trace too; keep them at warn unless tracing.
    let deps = if level == tracing::Level::TRACE { level } else { level.min(tracing::Level::WARN) };
    let filter = Targets::new().with_target("kiro_exporter", level).with_default(deps);
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    let _ = match format {
        LogFormat::Json => registry.with(layer.json().flatten_event(true)).try_init(),
        LogFormat::Logfmt => registry.with(layer.event_format(Logfmt)).try_init(),
    };
}

/// `ts=... level=info msg="..." key=value` lines.
struct Logfmt;

struct Fields<'a> {
    out: &'a mut String,
    msg: Option<String>,
}

fn quote(out: &mut String, v: &str) {
    let needs = v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
    if !needs {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = Some(value.to_owned());
        } else {
            self.out.push(' ');
            self.out.push_str(field.name());
            self.out.push('=');
            quote(self.out, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut rest = String::new();
        let mut fields = Fields { out: &mut rest, msg: None };
        event.record(&mut fields);
        let msg = fields.msg.take().unwrap_or_default();
        let mut line = format!(
            "ts={} level={} target={}",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event.metadata().level().as_str().to_ascii_lowercase(),
            event.metadata().target()
        );
        line.push_str(" msg=");
        quote(&mut line, &msg);
        line.push_str(&rest);
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn logfmt_quoting() {
        let q = |v: &str| {
            let mut s = String::new();
            quote(&mut s, v);
            s
        };
        assert_eq!(q("plain"), "plain");
        assert_eq!(q("two words"), "\"two words\"");
        assert_eq!(q("a\"b\nc"), "\"a\\\"b\\nc\"");
        assert_eq!(q(""), "\"\"");
    }
}
