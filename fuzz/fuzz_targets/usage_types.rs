//! Usage-type rules: Kiro tiers, billing regions, Bedrock models, token classes and units.
#![no_main]

use kiro_exporter::model::bedrock::{model_name, token_type, tokens_per_unit};
use kiro_exporter::model::kiro::tier_from_usage_type;
use kiro_exporter::model::plans::canonical_plan_name;
use kiro_exporter::model::region::region_from_usage_type;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (unit, rest) = s.split_once('|').unwrap_or(("", s));
    let _ = canonical_plan_name(tier_from_usage_type(rest));
    let _ = region_from_usage_type(rest);
    let _ = token_type(rest);
    let _ = tokens_per_unit(Some(unit), rest);
    let _ = tokens_per_unit(None, rest);
    let _ = model_name(None, rest, Some(unit));
});
