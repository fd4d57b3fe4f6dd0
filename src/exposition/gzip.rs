//! gzip for `/metrics` without compressing the same snapshot twice.
//!
//! A scrape is the snapshot's text (fixed until the next refresh) followed by a few live self-metrics. The
//! snapshot's part is deflated once, ending in a sync flush (byte-aligned, not final), and cached with its
//! CRC-32; each scrape deflates only the live part (ending in the final block) and joins the two into one
//! ordinary gzip member, combining the CRCs. This is how pigz compresses in parallel: every decoder reads it
//! as one stream.

use std::io;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// A deflated piece of text and the CRC-32 and length of the text.
#[derive(Debug)]
pub struct Deflated {
    bytes: Vec<u8>,
    crc: Crc,
}

fn deflate(input: &[u8], flush: FlushCompress) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(5), false);
    let mut out = Vec::with_capacity(input.len() / 5 + 64);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(input.len()).min(input.len());
        let status = c.compress_vec(&input[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let all_in = usize::try_from(c.total_in()).is_ok_and(|n| n == input.len());
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // The flush is complete once the compressor leaves output space unused.
            _ => all_in && out.capacity() - out.len() >= 1024,
        };
        if done {
            return Ok(out);
        }
    }
}

impl Deflated {
    /// The first part of a body: deflated up to a sync flush.
    pub fn prefix(text: &str) -> io::Result<Self> {
        let mut crc = Crc::new();
        crc.update(text.as_bytes());
        Ok(Self { bytes: deflate(text.as_bytes(), FlushCompress::Sync)?, crc })
    }
}

/// A gzip body: the cached `prefix` followed by `rest`, compressed now.
pub fn gzip(prefix: &Deflated, rest: &str) -> io::Result<Vec<u8>> {
    let tail = deflate(rest.as_bytes(), FlushCompress::Finish)?;
    let mut crc = Crc::new();
    crc.combine(&prefix.crc);
    let mut rest_crc = Crc::new();
    rest_crc.update(rest.as_bytes());
    crc.combine(&rest_crc);
    let mut out = Vec::with_capacity(10 + prefix.bytes.len() + tail.len() + 8);
    // Magic, deflate, no flags, no mtime, no extra flags, unknown OS.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&prefix.bytes);
    out.extend_from_slice(&tail);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    Ok(out)
}

/// Whether an `Accept-Encoding` header accepts gzip (and does not refuse it with `q=0`).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or_default().trim();
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next()
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        })
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        // A single-member decoder: the body must be one gzip member.
        flate2::read::GzDecoder::new(b).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn a_cached_prefix_and_a_fresh_tail_make_one_valid_member() {
        let big: String = (0..20_000).map(|i| format!("kiro_credits_used{{user=\"u{i}\"}} {i}.5\n")).collect();
        for (prefix, rest) in [(big.as_str(), "kiro_exporter_up 1\n# EOF\n"), ("", "x 1\n"), ("a 1\n", ""), ("", "")] {
            let cached = Deflated::prefix(prefix).unwrap();
            let body = gzip(&cached, rest).unwrap();
            assert_eq!(gunzip(&body), format!("{prefix}{rest}"));
            // Again from the same cache: nothing of the prefix is consumed.
            assert_eq!(gunzip(&gzip(&cached, rest).unwrap()), format!("{prefix}{rest}"));
        }
        let cached = Deflated::prefix(&big).unwrap();
        assert!(gzip(&cached, "").unwrap().len() < big.len() / 5, "compresses");
    }

    #[test]
    fn accept_encoding_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("br, deflate")));
        assert!(!accepts_gzip(None));
    }
}
