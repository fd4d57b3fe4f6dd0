//! The AWS SDK configuration, loaded once on first use and handed to every AWS client (S3, Athena,
//! Identity Center).

use anyhow::Context as _;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;

use crate::config::Config;
use crate::sources::store::{self, Location, Rooted};

/// The AWS configuration (credential chain; `--aws.region`, else the chain's), loaded once, on first use
/// (a set-up that reads only local files never loads it), and handed to every AWS client.
pub(super) struct Aws {
    region: Option<String>,
    sdk: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl Aws {
    pub(super) fn new(config: &Config) -> Self {
        Self { region: config.s3.region.clone(), sdk: tokio::sync::OnceCell::new() }
    }

    pub(super) async fn config(&self) -> &aws_config::SdkConfig {
        self.sdk
            .get_or_init(|| async {
                // HTTPS with rustls on ring, for every client and credential provider of the configuration.
                let https = aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build_https();
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https);
                if let Some(region) = &self.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                loader.load().await
            })
            .await
    }

    /// The same configuration in another region (Identity Center's may differ from the bill's).
    pub(super) async fn in_region(&self, region: Option<&String>) -> aws_config::SdkConfig {
        let sdk = self.config().await;
        match region {
            Some(r) if self.region.as_ref() != Some(r) => {
                sdk.to_builder().region(aws_config::Region::new(r.clone())).build()
            }
            _ => sdk.clone(),
        }
    }

    /// Opens a local folder or an S3 location (with this configuration's credentials).
    pub(super) async fn open(&self, location: &Location, config: &Config, what: &str) -> anyhow::Result<Rooted> {
        let sdk = match location {
            Location::S3 { .. } => Some(self.config().await),
            Location::Local(_) => None,
        };
        store::open(location, &config.s3, sdk, config.follow_symlinks)
            .await
            .with_context(|| format!("opening {what} at {}", location.display()))
    }
}
