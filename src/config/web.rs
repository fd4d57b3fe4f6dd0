//! The HTTP side: listen address, telemetry path, and the exporter-toolkit web config (TLS, auth).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::ConfigError;

/// Serving the metrics.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Web")]
pub struct WebArgs {
    /// Address to listen on for scrapes (`:PORT` means all interfaces).
    #[arg(
        long = "web.listen-address",
        env = "KIRO_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":10071",
        value_name = "ADDR"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "KIRO_EXPORTER_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// TLS, basic auth and headers, in the Prometheus exporter-toolkit format (as node_exporter's).
    #[arg(long = "web.config.file", env = "KIRO_EXPORTER_WEB_CONFIG_FILE", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Most connections open at once; when full, the oldest idle one is closed for a new one, and a new one
    /// is refused when none is idle. Keep it below the process' file descriptor limit.
    #[arg(
        long = "web.max-connections",
        env = "KIRO_EXPORTER_WEB_MAX_CONNECTIONS",
        default_value_t = 512,
        value_name = "N"
    )]
    pub max_connections: usize,

    /// Answer /-/healthy and /-/ready without basic auth (e.g. for a kubelet probe).
    #[arg(long = "web.health-without-auth", env = "KIRO_EXPORTER_WEB_HEALTH_WITHOUT_AUTH")]
    pub health_without_auth: bool,
}

/// What [`WebArgs`] validate to.
#[derive(Debug, Clone)]
pub(super) struct Web {
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    pub web_config_file: Option<PathBuf>,
    pub max_connections: usize,
    pub health_without_auth: bool,
}

impl WebArgs {
    pub(super) fn validate(&self) -> Result<Web, ConfigError> {
        let invalid = ConfigError::Invalid;
        if let Some(path) = &self.web_config_file {
            crate::http::web_config::WebConfig::load(path).map_err(invalid)?;
        }
        let listen_address = parse_listen_address(&self.listen_address).ok_or_else(|| {
            invalid(format!("--web.listen-address: {:?} is not HOST:PORT or :PORT", self.listen_address))
        })?;
        if !self.telemetry_path.starts_with('/') || self.telemetry_path == "/" || self.telemetry_path.starts_with("/-/")
        {
            return Err(invalid(format!(
                "--web.telemetry-path: {:?} must start with / and not be / or under /-/",
                self.telemetry_path
            )));
        }
        if self.max_connections == 0 {
            return Err(invalid("--web.max-connections must be at least 1".into()));
        }
        Ok(Web {
            max_connections: self.max_connections,
            listen_address,
            telemetry_path: self.telemetry_path.clone(),
            web_config_file: self.web_config_file.clone(),
            health_without_auth: self.health_without_auth,
        })
    }
}

/// `HOST:PORT`, `[V6]:PORT` or `:PORT` (all interfaces).
pub(super) fn parse_listen_address(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        return Some(SocketAddr::from(([0, 0, 0, 0], port.parse().ok()?)));
    }
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    match host {
        "localhost" => Some(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => None,
    }
}
