//! Object stores for an export location: a local directory or `s3://bucket/prefix`.
//!
//! S3 uses the standard AWS credential chain (environment, profiles, SSO, web identity/IRSA, ECS, IMDS)
//! through `aws-config`, bridged into `object_store`, and honours `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL` (path-style addressing then, so emulators work). Every store is wrapped in a
//! [`CountingStore`] so the bytes actually fetched are measured, not estimated.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, CredentialProvider, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use url::Url;

use super::SourceError;

/// Where an export (or any S3-style tree) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parses `s3://bucket/prefix` or a local path (`file://` accepted).
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SourceError::Config("empty export location".into()));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(SourceError::Config(format!("{s}: no bucket name in the s3:// URL")));
            }
            return Ok(Self::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
        }
        if s.contains("://") && !s.starts_with("file://") {
            return Err(SourceError::Config(format!("{s}: only local paths and s3:// URLs are supported")));
        }
        Ok(Self::Local(PathBuf::from(s.trim_start_matches("file://"))))
    }

    /// How the location is shown to users.
    pub fn display(&self) -> String {
        match self {
            Self::Local(p) => p.display().to_string(),
            Self::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Self::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// Settings for S3 access that do not come from the credential chain.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Region override (`--aws.region`); else the chain's region; else us-east-1.
    pub region: Option<String>,
    /// Endpoint override, from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
}

impl S3Settings {
    /// Reads the endpoint override from the process environment.
    pub fn from_env(region: Option<String>) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self { region, endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")) }
    }
}

/// A store rooted somewhere, with the prefix under which the export lives.
#[derive(Debug, Clone)]
pub struct Rooted {
    pub store: Arc<CountingStore>,
    /// URL DataFusion uses to find the store (`file:///` or `s3://bucket`).
    pub url: Url,
    /// The export's folder inside the store.
    pub prefix: Path,
    pub location: Location,
}

/// Bridges the AWS SDK's credential chain into `object_store`, caching the credentials until shortly before
/// they expire (object_store asks on every request; the chain may call STS, SSO or IMDS).
struct SdkCredentials {
    chain: aws_credential_types::provider::SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<std::time::SystemTime>)>>,
}

/// Credentials are renewed this long before they expire.
const CREDENTIAL_MARGIN: std::time::Duration = std::time::Duration::from_secs(300);

impl fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SdkCredentials")
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let mut cached = self.cached.lock().await;
        if let Some((c, expiry)) = cached.as_ref()
            && expiry.is_none_or(|e| std::time::SystemTime::now() + CREDENTIAL_MARGIN < e)
        {
            return Ok(c.clone());
        }
        let c = self
            .chain
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
        let credential = Arc::new(AwsCredential {
            key_id: c.access_key_id().to_owned(),
            secret_key: c.secret_access_key().to_owned(),
            token: c.session_token().map(str::to_owned),
        });
        *cached = Some((credential.clone(), c.expiry()));
        Ok(credential)
    }
}

/// Opens a location; an S3 one uses `sdk`'s credential chain and region (loaded once by the caller). A
/// local one reads only inside its folder unless `follow_symlinks` (`--cur.follow-symlinks`).
pub async fn open(
    location: &Location,
    s3: &S3Settings,
    sdk: Option<&aws_config::SdkConfig>,
    follow_symlinks: bool,
) -> Result<Rooted, SourceError> {
    match location {
        Location::Local(dir) => {
            // The folder may not exist yet (a sync sidecar creates it): refreshes fail until it does.
            let abs = std::path::absolute(dir)
                .map_err(|e| SourceError::Config(format!("export folder {}: {e}", dir.display())))?;
            if abs.exists() && !abs.is_dir() {
                return Err(SourceError::Config(format!("export folder {} is not a directory", abs.display())));
            }
            let prefix = Path::from_absolute_path(&abs)
                .map_err(|e| SourceError::Config(format!("export folder {}: {e}", abs.display())))?;
            let url = Url::parse("file:///").map_err(|e| SourceError::Config(e.to_string()))?;
            let local = LocalFileSystem::new();
            let store: Arc<dyn ObjectStore> = if follow_symlinks {
                Arc::new(local)
            } else {
                let root = local
                    .path_to_filesystem(&prefix)
                    .map_err(|e| SourceError::Config(format!("export folder {}: {e}", abs.display())))?;
                Arc::new(ConfinedLocal { inner: local, root })
            };
            Ok(Rooted { store: Arc::new(CountingStore::new(store)), url, prefix, location: location.clone() })
        }
        Location::S3 { bucket, prefix } => {
            let sdk = sdk.ok_or_else(|| {
                SourceError::Config(format!("{}: reading S3 needs the AWS configuration", location.display()))
            })?;
            let region = s3
                .region
                .clone()
                .or_else(|| sdk.region().map(|r| r.to_string()))
                .unwrap_or_else(|| "us-east-1".to_owned());
            // Transient S3 errors (500, 503, throttling, resets) are retried with backoff, as by default,
            // but a store that keeps failing is reported within seconds rather than after minutes.
            let retry = object_store::RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: std::time::Duration::from_millis(100),
                    max_backoff: std::time::Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: 5,
                retry_timeout: std::time::Duration::from_secs(60),
            };
            let mut builder = AmazonS3Builder::new().with_bucket_name(bucket).with_region(region).with_retry(retry);
            if let Some(creds) = sdk.credentials_provider() {
                builder = builder
                    .with_credentials(Arc::new(SdkCredentials { chain: creds, cached: tokio::sync::Mutex::new(None) }));
            } else {
                builder = builder.with_skip_signature(true);
            }
            if let Some(endpoint) = &s3.endpoint {
                builder = builder
                    .with_endpoint(endpoint.trim_end_matches('/'))
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            let store = builder.build().map_err(|e| SourceError::Config(format!("{}: {e}", location.display())))?;
            let url = Url::parse(&format!("s3://{bucket}")).map_err(|e| SourceError::Config(e.to_string()))?;
            Ok(Rooted {
                store: Arc::new(CountingStore::new(Arc::new(store))),
                url,
                prefix: Path::from(prefix.as_str()),
                location: location.clone(),
            })
        }
    }
}

/// The local file system, confined to a folder: reading or listing a path that goes through a symlink
/// leading out of the folder (a file, or a whole partition folder) is an error naming the link. Links that
/// stay inside are followed. Checked on every access, so a link swapped in later is caught too.
#[derive(Debug)]
pub struct ConfinedLocal {
    inner: LocalFileSystem,
    /// The folder, as the store spells it.
    root: PathBuf,
}

impl fmt::Display for ConfinedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confined({}, {})", self.inner, self.root.display())
    }
}

fn confined_error(msg: String) -> object_store::Error {
    object_store::Error::Generic { store: "LocalFileSystem", source: msg.into() }
}

impl ConfinedLocal {
    fn check(&self, location: &Path) -> object_store::Result<()> {
        let path = self.inner.path_to_filesystem(location)?;
        inside(&self.root, &path).map_err(confined_error)
    }
}

/// Whether `path` stays inside `root`: `Err` names the first symlink on the way that resolves outside.
/// Missing paths pass (reading them reports that), as do dangling links.
fn inside(root: &std::path::Path, path: &std::path::Path) -> Result<(), String> {
    let Ok(rel) = path.strip_prefix(root) else {
        return Err(format!("{} is outside the export folder {}", path.display(), root.display()));
    };
    let Ok(real_root) = std::fs::canonicalize(root) else { return Ok(()) };
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::canonicalize(&at).is_ok_and(|real| !real.starts_with(&real_root)) {
                    return Err(format!(
                        "symlink {} leads out of the export folder {} (--cur.follow-symlinks allows it)",
                        at.display(),
                        root.display()
                    ));
                }
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for ConfinedLocal {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        use futures::StreamExt;
        let (root, paths) = (self.root.clone(), self.inner.clone());
        self.inner
            .list(prefix)
            .map(move |meta| {
                let meta = meta?;
                let path = paths.path_to_filesystem(&meta.location)?;
                inside(&root, &path).map_err(confined_error)?;
                Ok(meta)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        for location in listed.common_prefixes.iter().chain(listed.objects.iter().map(|o| &o.location)) {
            self.check(location)?;
        }
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.check(from)?;
        self.check(to)?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// An [`ObjectStore`] that counts the bytes it hands out.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    bytes: AtomicU64,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, bytes: AtomicU64::new(0) }
    }

    /// Bytes fetched so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let head = options.head;
        let r = self.inner.get_opts(location, options).await?;
        if !head {
            self.bytes.fetch_add(r.range.end.saturating_sub(r.range.start), Ordering::Relaxed);
        }
        Ok(r)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let r = self.inner.get_ranges(location, ranges).await?;
        let n: usize = r.iter().map(Bytes::len).sum();
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("s3://bucket/cur/export/").unwrap(),
            Location::S3 { bucket: "bucket".into(), prefix: "cur/export".into() }
        );
        assert_eq!(
            Location::parse("s3://bucket").unwrap(),
            Location::S3 { bucket: "bucket".into(), prefix: String::new() }
        );
        assert_eq!(Location::parse("./sample").unwrap(), Location::Local("./sample".into()));
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("gs://b/x").is_err());
        assert_eq!(Location::parse("s3://b/p").unwrap().display(), "s3://b/p");
    }
}
