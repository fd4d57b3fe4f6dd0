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

/// Whether an `Accept-Encoding` header accepts gzip, per RFC 9110 section 12.5.3: `gzip` (or its alias
/// `x-gzip`) with a q-value above 0, or else `*` with a q-value above 0; a listed `gzip;q=0` refuses gzip
/// even when `*` accepts everything. No header, or one naming only other codings (`identity`, `br`...),
/// means the plain body. Elements with a malformed q-value are ignored, as the RFC's grammar does not
/// match them. `identity` is always served when gzip is not (the RFC allows it even when refused).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else { return false };
    let (mut gzip, mut any) = (None, None);
    for element in header.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        if coding.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                q = qvalue(value.trim());
                break;
            }
        }
        let Some(q) = q else { continue };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip.get_or_insert(q);
        } else if coding == "*" {
            any.get_or_insert(q);
        }
    }
    gzip.or(any).is_some_and(|q| q > 0)
}

/// An RFC 9110 `qvalue` (`0`, `0.5`, `1.000`; at most three decimals) in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
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
        // RFC 9110 section 12.5.3: codings with q-values, `*` for any coding not listed, `identity`, and q=0
        // meaning "not acceptable"; a named coding's own q-value wins over `*`.
        let table: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("GZIP"), true),
            (Some("x-gzip"), true),
            (Some("deflate, gzip;q=0.5"), true),
            (Some("gzip;q=1.0"), true),
            (Some("gzip; q=0.001"), true),
            (Some("gzip;Q=0.5"), true),
            (Some("*"), true),
            (Some("*;q=0.1"), true),
            (Some("gzip;q=0"), false),
            (Some("gzip;q=0.0"), false),
            (Some("gzip;q=0.000"), false),
            (Some("gzip;q=0, *"), false),
            (Some("*, gzip;q=0"), false),
            (Some("gzip;q=0, *;q=1"), false),
            (Some("x-gzip;q=0, *"), false),
            (Some("*;q=0"), false),
            (Some("*;q=0, gzip"), true),
            (Some("gzip, *;q=0"), true),
            (Some("identity"), false),
            (Some("identity;q=1, *;q=0"), false),
            (Some("identity, gzip;q=0.1"), true),
            (Some("br, deflate"), false),
            (Some("br;q=1, gzip;q=0.8, identity;q=0.5"), true),
            // A q-value that is not one (RFC: 0 to 1, at most three decimals) makes that element void.
            (Some("gzip;q=2"), false),
            (Some("gzip;q=abc"), false),
            (Some("gzip;q=-1"), false),
            (Some("gzip;q=0.5000"), false),
            (Some("gzip;q=nan"), false),
            (Some("gzip;q=inf"), false),
            // Other parameters are ignored; empty elements (`,,`) are allowed by the list syntax.
            (Some("gzip;level=9"), true),
            (Some(" , ,gzip , "), true),
            (Some("gzipx"), false),
            (Some("gzip;q=0;q=1"), false),
        ];
        for (header, want) in table {
            assert_eq!(accepts_gzip(*header), *want, "Accept-Encoding: {header:?}");
        }
    }
}
