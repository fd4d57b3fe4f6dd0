//! The TLS side of the web config: certificate, key and client CA files read (bounded) into a rustls
//! server configuration.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::*;

/// Certificates and keys are small: a file named by mistake (a device, a log) is not read past this.
pub(super) const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

pub(super) fn read_pem_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(MAX_PEM_FILE_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(std::io::Error::other(format!("larger than {MAX_PEM_FILE_BYTES} bytes")));
    }
    Ok(out)
}

pub(super) fn tls_config(
    path: &Path,
    base: &Path,
    t: TlsFile,
    read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<(rustls::ServerConfig, TlsStrength), String> {
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err(err(path, "tls_server_config needs cert_file and key_file"));
    };
    let (cert, key) = (base.join(cert), base.join(key));
    let cert_pem = read(&cert).map_err(|e| err(path, format!("cert_file {}: {e}", cert.display())))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path, format!("cert_file {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(err(path, format!("cert_file {}: no certificate", cert.display())));
    }
    let key_pem = read(&key).map_err(|e| err(path, format!("key_file {}: {e}", key.display())))?;
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| err(path, format!("key_file {}: {e}", key.display())))?;

    let min = version(path, "min_version", t.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version(path, "max_version", t.max_version.as_deref().unwrap_or("TLS13"))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(rank, _)| (min..=max).contains(rank))
            .map(|(_, v)| v)
            .collect();
    if versions.is_empty() {
        return Err(err(path, "tls_server_config: min_version is above max_version"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err(path, e))?;

    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let client_auth = match auth {
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        _ => ClientAuth::NoClientCert,
    };
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(err(path, format!("client_auth_type {auth} needs client_ca_file")));
            };
            let ca = base.join(ca);
            let mut roots = rustls::RootCertStore::empty();
            let ca_pem = read(&ca).map_err(|e| err(path, format!("client_ca_file {}: {e}", ca.display())))?;
            let cas = CertificateDer::pem_slice_iter(&ca_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(path, format!("client_ca_file {}: {e}", ca.display())))?;
            for c in cas {
                roots.add(c).map_err(|e| err(path, format!("client_ca_file {}: {e}", ca.display())))?;
            }
            if roots.is_empty() {
                return Err(err(path, format!("client_ca_file {}: no certificate", ca.display())));
            }
            let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth == "VerifyClientCertIfGiven" {
                verifier = verifier.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(verifier.build().map_err(|e| err(path, e))?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(err(
                path,
                format!(
                    "client_auth_type {auth} accepts unverified certificates and is not supported: use RequireAndVerifyClientCert"
                ),
            ));
        }
        other => return Err(err(path, format!("client_auth_type {other:?} is not a known value"))),
    };
    let mut config =
        builder.with_single_cert(certs, key).map_err(|e| err(path, format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, TlsStrength { min_version: min, client_auth }))
}
