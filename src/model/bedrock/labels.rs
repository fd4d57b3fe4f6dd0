//! The exporter's label policy for Bedrock series: which label names are fixed, and how
//! `--bedrock.tag-label LABEL=TAG_KEY` maps principal tags to labels (names sanitised and validated, tag
//! keys restricted to AWS's tag-key characters before they reach SQL).

/// Labels of the Bedrock series other than tag labels; a tag label may not take one of these names
/// (`team` is the exception: a `team` tag fills the `team` label).
pub const FIXED_LABELS: &[&str] = &[
    "billing_period",
    "aws_account_id",
    "aws_region",
    "principal",
    "principal_type",
    "principal_name",
    "user",
    "model",
    "token_type",
];

/// Label names with a meaning of their own in Prometheus: `le` (histogram buckets) and `quantile`
/// (summaries); a series carrying them is misread by PromQL and flagged by promtool.
pub const PROMETHEUS_RESERVED_LABELS: &[&str] = &["le", "quantile"];

/// Why a tag label may not be called `label`, if it may not.
fn reserved(label: &str) -> Option<&'static str> {
    if label.starts_with("__") {
        Some("names starting with __ are Prometheus' own")
    } else if PROMETHEUS_RESERVED_LABELS.contains(&label) {
        Some("Prometheus gives it a meaning of its own")
    } else if FIXED_LABELS.contains(&label) {
        Some("already a label of the Bedrock series")
    } else {
        None
    }
}

/// A label filled from a principal tag (`--bedrock.tag-label LABEL=TAG_KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLabel {
    /// A valid Prometheus label name (sanitised).
    pub label: String,
    /// The key in CUR's `tags` map, e.g. `iamPrincipal/team`.
    pub key: String,
}

impl TagLabel {
    /// The defaults: `team`, `project` and `cost_center` from the `iamPrincipal/` tags.
    pub fn defaults() -> Vec<Self> {
        [
            ("team", "iamPrincipal/team"),
            ("project", "iamPrincipal/project"),
            ("cost_center", "iamPrincipal/cost-center"),
        ]
        .into_iter()
        .map(|(label, key)| Self { label: label.into(), key: key.into() })
        .collect()
    }
}

/// A Prometheus label name from any text: other characters become `_`, a leading digit gets a `_`.
pub fn sanitise_label_name(name: &str) -> String {
    let mut out: String =
        name.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl std::str::FromStr for TagLabel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (label, key) = s.split_once('=').ok_or_else(|| format!("{s:?} is not LABEL=TAG_KEY"))?;
        let label = sanitise_label_name(label);
        if label.is_empty() {
            return Err(format!("{s:?}: the label name is empty"));
        }
        if let Some(why) = reserved(&label) {
            return Err(format!("{s:?}: the label name {label} is reserved ({why})"));
        }
        let key = key.trim();
        valid_tag_key(key)?;
        Ok(Self { label, key: key.to_owned() })
    }
}

/// Parses `--bedrock.tag-label` values; none given means [`TagLabel::defaults`].
pub fn tag_labels(values: &[String]) -> Result<Vec<TagLabel>, String> {
    if values.is_empty() {
        return Ok(TagLabel::defaults());
    }
    let mut out: Vec<TagLabel> = Vec::new();
    for v in values {
        let t: TagLabel = v.parse()?;
        if out.iter().any(|o| o.label == t.label) {
            return Err(format!("label {} is mapped twice", t.label));
        }
        out.push(t);
    }
    Ok(out)
}

/// Why a tag key cannot go into a query: AWS tag keys are at most 128 characters of letters, digits,
/// spaces and `_ . : / = + - @`; anything that could end a string literal is refused.
pub fn valid_tag_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key {key:?} must be 1 to 128 characters"));
    }
    match key.chars().find(|c| !(c.is_alphanumeric() || " _.:/=+-@".contains(*c))) {
        Some(c) => Err(format!("tag key {key:?} has {c:?}; tag keys hold letters, digits, spaces and _.:/=+-@")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_cannot_break_out_of_a_literal() {
        assert!(valid_tag_key("iamPrincipal/cost-center").is_ok());
        assert!(valid_tag_key("user:Team Name@x=1+2.3").is_ok());
        for bad in ["", "a'b", "a\\b", "a\nb", "a;b", &"k".repeat(129)] {
            assert!(valid_tag_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserved_label_names_are_refused_by_name() {
        for (arg, name) in [
            ("le=iamPrincipal/le", "le"),
            ("quantile=iamPrincipal/q", "quantile"),
            ("__name__=iamPrincipal/x", "__name__"),
            ("__meta=iamPrincipal/x", "__meta"),
            ("user=iamPrincipal/user", "user"),
            ("model=iamPrincipal/model", "model"),
            ("principal=iamPrincipal/p", "principal"),
        ] {
            let e = arg.parse::<TagLabel>().unwrap_err();
            assert!(e.contains(&format!("label name {name} is reserved")), "{arg}: {e}");
            let e = tag_labels(&[arg.to_owned()]).unwrap_err();
            assert!(e.contains(name), "{arg}: {e}");
        }
        // After sanitising too: `l-e` is not `le`, but ` le ` is.
        assert!(" le =iamPrincipal/le".parse::<TagLabel>().unwrap_err().contains("le is reserved"));
        assert!("=iamPrincipal/x".parse::<TagLabel>().unwrap_err().contains("empty"));
        assert_eq!("level=iamPrincipal/le".parse::<TagLabel>().unwrap().label, "level");
        assert_eq!("team=iamPrincipal/squad".parse::<TagLabel>().unwrap().label, "team");
    }
}
