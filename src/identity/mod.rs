//! Identity: Identity Center user ids to names and teams.
//!
//! Two directories, behind [`DirectorySource`]: IAM Identity Center ([`identity_center`], through
//! aws-sdk-identitystore) and the users file (`--identity.users-file`: JSONL as written by
//! `aws identitystore list-users ... | jq -c '.[]'`, one `{"Username":"user01","UserId":"..."}` per line,
//! optionally with `Email`, `DisplayName` and `Team`). With both, the file overrides what it sets.
//!
//! The directory is cached by [`IdentityMonitor`] and refreshed on its own interval. A failed fetch never
//! fails a cost refresh: the last known directory is kept, unknown ids show as their id, and
//! `kiro_exporter_identity_*` plus the error counter say so. [`resolve`] turns a directory into labels.

pub mod identity_center;
pub mod resolve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use serde::Deserialize;

use crate::exposition::{Family, Kind};

/// Why a directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read users file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("users file {path}, line {line}: {reason}")]
    Parse { path: PathBuf, line: usize, reason: String },
    #[error("identity center: {operation} failed")]
    Api {
        operation: &'static str,
        #[source]
        source: crate::error::BoxError,
    },
    #[error("identity center: no IAM Identity Center instance found (set --identity.store-id)")]
    NoInstance,
}

impl IdentityError {
    /// Every `kind` this error can have (`identity`), so its counters can start at 0.
    pub const KINDS: &'static [&'static str] =
        &["identity_read", "identity_parse", "identity_api", "identity_no_instance"];

    /// Metric label for `kiro_exporter_refresh_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read { .. } => "identity_read",
            Self::Parse { .. } => "identity_parse",
            Self::Api { .. } => "identity_api",
            Self::NoInstance => "identity_no_instance",
        }
    }
}

/// One user of a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryUser {
    pub user_id: String,
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// An explicit team (users file), beating group membership.
    pub team: Option<String>,
    /// Display names of the groups the user is a member of.
    pub groups: Vec<String>,
}

/// User id -> user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    users: HashMap<String, DirectoryUser>,
}

impl Directory {
    pub fn get(&self, user_id: &str) -> Option<&DirectoryUser> {
        self.users.get(user_id)
    }

    pub fn insert(&mut self, user: DirectoryUser) {
        self.users.insert(user.user_id.clone(), user);
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// User names and emails (lowercased) -> user id: how a Bedrock principal (IAM user name or federated
    /// session name) is linked to a person. A name two users share goes to the lowest user id, so the
    /// link is stable.
    pub fn name_index(&self) -> HashMap<String, String> {
        let mut index: HashMap<String, String> = HashMap::new();
        for u in self.users.values() {
            for name in [&u.user_name, &u.email].into_iter().flatten() {
                let name = name.trim().to_lowercase();
                if name.is_empty() {
                    continue;
                }
                let id = index.entry(name).or_insert_with(|| u.user_id.clone());
                if u.user_id < *id {
                    id.clone_from(&u.user_id);
                }
            }
        }
        index
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds `other`'s users; for a user in both, `other`'s non-empty fields win.
    pub fn overlay(&mut self, other: Directory) {
        for (id, o) in other.users {
            match self.users.get_mut(&id) {
                None => {
                    self.users.insert(id, o);
                }
                Some(u) => {
                    let pick = |mine: &mut Option<String>, theirs: Option<String>| {
                        if theirs.as_deref().is_some_and(|t| !t.trim().is_empty()) {
                            *mine = theirs;
                        }
                    };
                    pick(&mut u.user_name, o.user_name);
                    pick(&mut u.display_name, o.display_name);
                    pick(&mut u.email, o.email);
                    pick(&mut u.team, o.team);
                    if !o.groups.is_empty() {
                        u.groups = o.groups;
                    }
                }
            }
        }
    }

    /// Parses users-file JSONL; blank lines are skipped, anything else that is not a user is an error naming
    /// the line.
    pub fn parse_users_file(path: &Path, text: &str) -> Result<Self, IdentityError> {
        #[derive(Deserialize)]
        struct Line {
            #[serde(rename = "UserId", alias = "userId", alias = "userid")]
            user_id: String,
            #[serde(rename = "Username", alias = "UserName", alias = "username")]
            user_name: Option<String>,
            #[serde(rename = "DisplayName", alias = "displayName")]
            display_name: Option<String>,
            #[serde(rename = "Email", alias = "email")]
            email: Option<String>,
            #[serde(rename = "Team", alias = "team")]
            team: Option<String>,
        }
        let mut dir = Directory::default();
        for (i, raw) in text.lines().enumerate() {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let err = |reason: String| IdentityError::Parse { path: path.to_owned(), line: i + 1, reason };
            let l: Line = serde_json::from_str(raw).map_err(|e| err(e.to_string()))?;
            if l.user_id.trim().is_empty() {
                return Err(err("empty UserId".into()));
            }
            dir.insert(DirectoryUser {
                user_id: l.user_id,
                user_name: l.user_name,
                display_name: l.display_name,
                email: l.email,
                team: l.team,
                groups: Vec::new(),
            });
        }
        Ok(dir)
    }
}

/// A directory of users.
#[async_trait]
pub trait DirectorySource: Send + Sync {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// Reads the whole directory.
    async fn fetch(&self) -> Result<Directory, IdentityError>;
}

/// The users file as a directory.
pub struct UsersFile(pub PathBuf);

#[async_trait]
impl DirectorySource for UsersFile {
    fn name(&self) -> &'static str {
        "users_file"
    }

    async fn fetch(&self) -> Result<Directory, IdentityError> {
        let text = tokio::fs::read_to_string(&self.0)
            .await
            .map_err(|source| IdentityError::Read { path: self.0.clone(), source })?;
        Directory::parse_users_file(&self.0, &text)
    }
}

#[derive(Debug, Default)]
struct MonitorState {
    current: Option<Arc<Directory>>,
    last_success: Option<SystemTime>,
    up: Option<bool>,
}

/// The cached directory and its health.
pub struct IdentityMonitor {
    /// Identity Center first, then the users file (which overrides).
    sources: Vec<Box<dyn DirectorySource>>,
    state: Mutex<MonitorState>,
}

impl IdentityMonitor {
    pub fn new(sources: Vec<Box<dyn DirectorySource>>) -> Self {
        Self { sources, state: Mutex::new(MonitorState::default()) }
    }

    /// Whether any directory is configured.
    pub fn is_configured(&self) -> bool {
        !self.sources.is_empty()
    }

    /// The last known directory (`None` until the first success).
    pub fn current(&self) -> Option<Arc<Directory>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).current.clone()
    }

    /// Fetches every source and replaces the cached directory; on failure the last one is kept.
    pub async fn refresh(&self) -> Result<usize, IdentityError> {
        let mut merged = Directory::default();
        let mut outcome = Ok(());
        for s in &self.sources {
            match s.fetch().await {
                Ok(d) => merged.overlay(d),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(()) => {
                let n = merged.len();
                st.current = Some(Arc::new(merged));
                st.last_success = Some(SystemTime::now());
                st.up = Some(true);
                Ok(n)
            }
            Err(e) => {
                st.up = Some(false);
                Err(e)
            }
        }
    }
}

impl crate::exposition::Families for IdentityMonitor {
    fn families(&self, _now: SystemTime) -> Vec<Family> {
        if !self.is_configured() {
            return Vec::new();
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut users =
            Family::new("kiro_exporter_identity_users", Kind::Gauge, "Users in the cached identity directory.");
        let mut last = Family::new(
            "kiro_exporter_identity_last_success_timestamp_seconds",
            Kind::Gauge,
            "Time the identity directory was last read successfully.",
        );
        let mut up = Family::new(
            "kiro_exporter_identity_up",
            Kind::Gauge,
            "1 if the last identity directory refresh succeeded, 0 if it failed and the last known names are used.",
        );
        if let Some(d) = &st.current {
            users.push(vec![], d.len() as f64);
        }
        if let Some(t) = st.last_success {
            last.push(vec![], t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
        }
        if let Some(ok) = st.up {
            up.push(vec![], if ok { 1.0 } else { 0.0 });
        }
        vec![users, last, up]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_list_users_jsonl_with_optional_fields() {
        let text = "{\"Username\":\"user01\",\"UserId\":\"843884c8-00c1-7046-e4e8-7ba5acc6cfc7\"}\n\n\
                    {\"UserName\":\"Zoë \\\"Z\\\"\",\"UserId\":\"04d86408\",\"Email\":\"zoe@example.com\",\"Team\":\"search\"}\n";
        let d = Directory::parse_users_file(Path::new("u.jsonl"), text).unwrap();
        assert_eq!(d.get("843884c8-00c1-7046-e4e8-7ba5acc6cfc7").unwrap().user_name.as_deref(), Some("user01"));
        let z = d.get("04d86408").unwrap();
        assert_eq!(
            (z.user_name.as_deref(), z.email.as_deref(), z.team.as_deref()),
            (Some("Zoë \"Z\""), Some("zoe@example.com"), Some("search"))
        );
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn names_and_emails_index_to_the_lowest_user_id() {
        let mut d = Directory::default();
        for (id, name, email) in [("b", "Alice", "alice@acme.org"), ("a", "alice2", "ALICE@acme.org"), ("c", " ", "")] {
            d.insert(DirectoryUser {
                user_id: id.into(),
                user_name: Some(name.into()),
                email: Some(email.into()),
                ..DirectoryUser::default()
            });
        }
        let i = d.name_index();
        assert_eq!(i.get("alice").map(String::as_str), Some("b"));
        assert_eq!(i.get("alice@acme.org").map(String::as_str), Some("a"));
        assert_eq!(i.get("alice2").map(String::as_str), Some("a"));
        assert_eq!(i.len(), 3);
    }

    #[test]
    fn a_broken_line_is_named() {
        let text = "{\"Username\":\"a\",\"UserId\":\"1\"}\n{\"Username\":\"b\",\n";
        let e = Directory::parse_users_file(Path::new("users.jsonl"), text).unwrap_err();
        assert!(e.to_string().starts_with("users file users.jsonl, line 2:"), "{e}");
        assert_eq!(e.kind(), "identity_parse");
    }

    #[test]
    fn the_file_overrides_what_it_sets() {
        let mut ic = Directory::default();
        ic.insert(DirectoryUser {
            user_id: "1".into(),
            user_name: Some("ic-name".into()),
            email: Some("a@x".into()),
            groups: vec!["team-a".into()],
            ..Default::default()
        });
        let mut file = Directory::default();
        file.insert(DirectoryUser { user_id: "1".into(), team: Some("b".into()), ..Default::default() });
        file.insert(DirectoryUser { user_id: "2".into(), user_name: Some("only-file".into()), ..Default::default() });
        ic.overlay(file);
        let u = ic.get("1").unwrap();
        assert_eq!((u.user_name.as_deref(), u.team.as_deref(), u.groups.len()), (Some("ic-name"), Some("b"), 1));
        assert_eq!(ic.get("2").unwrap().user_name.as_deref(), Some("only-file"));
    }

    struct Flaky(std::sync::atomic::AtomicBool);

    #[async_trait]
    impl DirectorySource for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn fetch(&self) -> Result<Directory, IdentityError> {
            if self.0.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let mut d = Directory::default();
                d.insert(DirectoryUser { user_id: "1".into(), user_name: Some("one".into()), ..Default::default() });
                Ok(d)
            } else {
                Err(IdentityError::Api { operation: "ListUsers", source: "connection refused".into() })
            }
        }
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_last_directory() {
        let m = IdentityMonitor::new(vec![Box::new(Flaky(true.into()))]);
        assert!(m.current().is_none());
        assert_eq!(m.refresh().await.unwrap(), 1);
        assert!(m.refresh().await.is_err());
        assert_eq!(m.current().unwrap().get("1").unwrap().user_name.as_deref(), Some("one"));
    }
}
