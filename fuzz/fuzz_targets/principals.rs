//! Principal ARNs and session names.
#![no_main]

use kiro_exporter::model::bedrock::{looks_like_email, parse_principal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let p = parse_principal(s);
    let _ = looks_like_email(&p.name);
    if let Some(role_arn) = p.role_arn {
        // The collapsed form parses as a principal of no session.
        assert!(parse_principal(&role_arn).name.is_empty());
    }
});
