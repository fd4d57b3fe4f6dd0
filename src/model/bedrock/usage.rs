//! The bill's Bedrock rules: who a principal ARN is, which token class and unit a usage type has, and
//! which model a line is for.

use rust_decimal::Decimal;

use crate::model::region::region_from_usage_type;

/// What `principal_type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalType {
    User,
    AssumedRole,
    /// No principal, or one of another shape.
    Other,
}

impl PrincipalType {
    pub fn label(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::AssumedRole => "assumed-role",
            Self::Other => "",
        }
    }
}

/// A parsed principal ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalType,
    /// IAM user name or role session name; `""` for other principals.
    pub name: String,
    /// The role of an assumed-role session.
    pub role: Option<String>,
    /// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE` for a session, the collapsed form.
    pub role_arn: Option<String>,
}

/// Parses a principal ARN; anything unrecognised (including `""`) is [`PrincipalType::Other`].
pub fn parse_principal(arn: &str) -> Principal {
    let other = Principal { kind: PrincipalType::Other, name: String::new(), role: None, role_arn: None };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, _region, account, resource] = parts.as_slice() else { return other };
    if *prefix != "arn" || partition.is_empty() {
        return other;
    }
    match (*service, resource.split_once('/')) {
        ("iam", Some(("user", path))) => {
            // Users may have a path (`user/division/alice`): the name is the last segment.
            let name = path.rsplit('/').next().unwrap_or_default();
            if name.is_empty() {
                return other;
            }
            Principal { kind: PrincipalType::User, name: name.to_owned(), role: None, role_arn: None }
        }
        ("sts", Some(("assumed-role", rest))) => {
            let Some((role, session)) = rest.split_once('/') else { return other };
            if role.is_empty() || session.is_empty() {
                return other;
            }
            Principal {
                kind: PrincipalType::AssumedRole,
                name: session.to_owned(),
                role: Some(role.to_owned()),
                role_arn: Some(format!("arn:{partition}:sts::{account}:assumed-role/{role}")),
            }
        }
        _ => other,
    }
}

/// Which role session names become labels (`--bedrock.session-names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SessionNames {
    /// Every session is its own principal.
    Keep,
    /// Every session is collapsed to its role.
    Drop,
    /// Sessions named like a person (an email address) are kept, the rest collapsed to the role.
    #[default]
    EmailsOnly,
}

/// `local@domain.tld`, without spaces: how federated sessions name a person.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let ok = |p: &str| !p.is_empty() && !p.contains(['@', ' ', '\t', '/']);
    ok(local) && ok(domain) && domain.split('.').count() >= 2 && domain.split('.').all(|p| !p.is_empty())
}

/// The token class of a usage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenType {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    Other,
}

impl TokenType {
    pub fn label(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::CacheRead => "cache_read",
            Self::CacheWrite => "cache_write",
            Self::Other => "other",
        }
    }
}

/// Classifies a usage type by substring, in the documented order (cache read before input: Marketplace's
/// `CacheReadInputTokenCount` names both).
pub fn token_type(usage_type: &str) -> TokenType {
    let u = usage_type.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| u.contains(n));
    if any(&["cacheread", "cache-read", "cache_read"]) {
        TokenType::CacheRead
    } else if any(&["cachewrite", "cache-write", "cache_write"]) {
        TokenType::CacheWrite
    } else if u.contains("input") {
        TokenType::Input
    } else if u.contains("output") {
        TokenType::Output
    } else {
        TokenType::Other
    }
}

/// Tokens per unit of `line_item_usage_amount`, or `None` when the row does not count tokens (hours,
/// requests, images): those rows have a cost but no tokens. Marketplace `Units` are millions of tokens when
/// the usage type names tokens; without a pricing unit only Marketplace token usage types
/// (`...TokenCount-Units`) are counted, since guessing a scale would be wrong by a factor of 1,000.
pub fn tokens_per_unit(pricing_unit: Option<&str>, usage_type: &str) -> Option<Decimal> {
    let unit = pricing_unit.map(|u| u.trim().to_ascii_lowercase()).unwrap_or_default();
    let ut = usage_type.to_ascii_lowercase();
    let names_tokens = ut.contains("token");
    let thousand = Decimal::from(1_000);
    let million = Decimal::from(1_000_000);
    match unit.as_str() {
        "" => (names_tokens && ut.contains("mp:") && ut.ends_with("-units")).then_some(million),
        // Marketplace models bill in Units of a million tokens.
        "units" | "unit" => names_tokens.then_some(million),
        _ => {
            let rest = unit.strip_suffix("tokens").or_else(|| unit.strip_suffix("token"))?.trim();
            let (digits, suffix) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len()));
            let n = if digits.is_empty() { Decimal::ONE } else { digits.parse::<Decimal>().ok()? };
            match suffix.trim() {
                "" => Some(n),
                // A unit like `1000000000000000000000000000k tokens` is not a unit: no tokens, no overflow.
                "k" => n.checked_mul(thousand),
                "m" => n.checked_mul(million),
                _ => None,
            }
        }
    }
}

/// Line item types whose usage amounts are usage (tokens); the others only net into cost.
pub fn is_usage(line_item_type: &str) -> bool {
    matches!(line_item_type, "Usage" | "DiscountedUsage" | "SavingsPlanCoveredUsage")
}

/// The model part of a first-party usage type (`USE1-Claude4.6Sonnet-input-tokens` -> `Claude4.6Sonnet`):
/// the segments after the region prefix up to the first token-class segment. `None` for Marketplace usage
/// types (`USE1-MP:...`) and usage types that name no token class.
pub fn model_from_usage_type(usage_type: &str) -> Option<String> {
    // A known billing-region prefix, or one of the same shape (letters and a digit: `XYZ1-`).
    let region_like = |p: &str| {
        let b = p.as_bytes();
        (3..=5).contains(&b.len())
            && b[..b.len() - 1].iter().all(u8::is_ascii_uppercase)
            && b[b.len() - 1].is_ascii_digit()
    };
    let rest = match usage_type.split_once('-') {
        Some((prefix, rest)) if region_from_usage_type(usage_type).is_some() || region_like(prefix) => rest,
        _ => usage_type,
    };
    if rest.contains("MP:") {
        return None;
    }
    let segments: Vec<&str> = rest.split('-').collect();
    let stop = segments.iter().position(|s| {
        let s = s.to_ascii_lowercase();
        s.starts_with("input") || s.starts_with("output") || s.starts_with("cache") || s.contains("token")
    })?;
    let model = segments[..stop].join("-");
    (!model.is_empty()).then_some(model)
}

/// The `model` label, in the documented order of sources.
pub fn model_name(product_model: Option<&str>, usage_type: &str, product_name: Option<&str>) -> String {
    fn present(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(m) = present(product_model) {
        return m.to_owned();
    }
    if let Some(m) = model_from_usage_type(usage_type) {
        return m;
    }
    present(product_name)
        .map(|n| n.strip_suffix("(Amazon Bedrock Edition)").unwrap_or(n).trim().to_owned())
        .unwrap_or_default()
}
