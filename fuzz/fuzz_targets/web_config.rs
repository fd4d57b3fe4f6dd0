//! The `--web.config.file` parser (exporter-toolkit YAML), with the certificate, key and CA files it names
//! read from the input too: the input is the YAML, then a NUL, then the bytes every named file holds.
#![no_main]

use kiro_exporter::http::web_config::WebConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (yaml, files) = match data.iter().position(|b| *b == 0) {
        Some(n) => (&data[..n], &data[n + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(yaml);
    let files = files.to_vec();
    let path = std::path::Path::new("/nonexistent/web.yml");
    if let Ok(a) = WebConfig::parse_with(path, &text, &|_| Ok(files.clone())) {
        // Whatever parses can be compared with itself and with nothing set.
        assert!(a.weakened_by(&a).is_none());
        if let Ok(empty) = WebConfig::parse(path, "") {
            let _ = a.weakened_by(&empty);
        }
    }
});
