//! The JSONL users file.
#![no_main]

use kiro_exporter::identity::Directory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Directory::parse_users_file(std::path::Path::new("users.jsonl"), &text);
});
