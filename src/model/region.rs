//! The AWS region of a line item: from `product['region']`, else the usage-type prefix, else
//! `product_region_code`.
//!
//! Usage types start with a billing-region code (`USE1-KiroEnterprise-Pro`, `EUC1-...`). The table below is
//! AWS's published set of those codes; an unknown prefix falls through to `product_region_code`.

/// Billing-region prefixes of usage types and the region each stands for.
const USAGE_TYPE_PREFIXES: &[(&str, &str)] = &[
    ("USE1", "us-east-1"),
    ("USE2", "us-east-2"),
    ("USW1", "us-west-1"),
    ("USW2", "us-west-2"),
    ("UGW1", "us-gov-west-1"),
    ("UGE1", "us-gov-east-1"),
    ("CAN1", "ca-central-1"),
    ("CAN2", "ca-west-1"),
    ("SAE1", "sa-east-1"),
    ("MXC1", "mx-central-1"),
    ("EU", "eu-west-1"),
    ("EUW1", "eu-west-1"),
    ("EUW2", "eu-west-2"),
    ("EUW3", "eu-west-3"),
    ("EUC1", "eu-central-1"),
    ("EUC2", "eu-central-2"),
    ("EUN1", "eu-north-1"),
    ("EUS1", "eu-south-1"),
    ("EUS2", "eu-south-2"),
    ("APN1", "ap-northeast-1"),
    ("APN2", "ap-northeast-2"),
    ("APN3", "ap-northeast-3"),
    ("APS1", "ap-southeast-1"),
    ("APS2", "ap-southeast-2"),
    ("APS3", "ap-south-1"),
    ("APS4", "ap-southeast-3"),
    ("APS5", "ap-south-2"),
    ("APS6", "ap-southeast-4"),
    ("APS7", "ap-southeast-5"),
    ("APS9", "ap-southeast-7"),
    ("APE1", "ap-east-1"),
    ("APE2", "ap-east-2"),
    ("MES1", "me-south-1"),
    ("MEC1", "me-central-1"),
    ("ILC1", "il-central-1"),
    ("AFS1", "af-south-1"),
    ("CNN1", "cn-north-1"),
    ("CNW1", "cn-northwest-1"),
];

/// The region named by a usage type's prefix (`USE1-...` -> `us-east-1`), if it has a known one.
pub fn region_from_usage_type(usage_type: &str) -> Option<&'static str> {
    let (prefix, _) = usage_type.split_once('-')?;
    USAGE_TYPE_PREFIXES.iter().find(|(p, _)| p.eq_ignore_ascii_case(prefix)).map(|(_, r)| *r)
}

/// Resolves a line item's region in the documented order; `""` when nothing names one.
pub fn resolve_region(
    product_region: Option<&str>,
    usage_type: Option<&str>,
    product_region_code: Option<&str>,
) -> String {
    fn non_empty(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(r) = non_empty(product_region) {
        return r.to_owned();
    }
    if let Some(r) = non_empty(usage_type).and_then(region_from_usage_type) {
        return r.to_owned();
    }
    non_empty(product_region_code).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_sources() {
        assert_eq!(
            resolve_region(Some("eu-central-1"), Some("USE1-KiroEnterprise-Pro"), Some("us-east-1")),
            "eu-central-1"
        );
        assert_eq!(resolve_region(None, Some("EUC1-KiroEnterprise-Pro"), Some("us-east-1")), "eu-central-1");
        assert_eq!(resolve_region(Some(""), Some("USE1-KiroEnterprise-Credits"), None), "us-east-1");
        assert_eq!(resolve_region(None, Some("KiroEnterprise-Pro"), Some("ap-northeast-1")), "ap-northeast-1");
        assert_eq!(resolve_region(None, Some("XYZ9-KiroEnterprise-Pro"), Some("us-west-2")), "us-west-2");
        assert_eq!(resolve_region(None, None, None), "");
    }

    #[test]
    fn prefixes() {
        assert_eq!(region_from_usage_type("APN1-KiroEnterprise-Power"), Some("ap-northeast-1"));
        assert_eq!(region_from_usage_type("EU-DataTransfer-Out-Bytes"), Some("eu-west-1"));
        assert_eq!(region_from_usage_type("usw2-Foo"), Some("us-west-2"));
        assert_eq!(region_from_usage_type("Requests"), None);
    }
}
