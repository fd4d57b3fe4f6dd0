//! Identity: turning Identity Center user ids into the `user` label.
//!
//! For now the only directory is the users file (`--identity.users-file`): JSONL as written by
//! `aws identitystore list-users ... | jq -c '.[]'`, one `{"Username":"user01","UserId":"..."}` per line
//! (`UserName` is accepted too, as the raw API spells it). Ids not in the directory show their id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the users file could not be used.
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
}

impl IdentityError {
    /// Metric label for `kiro_exporter_refresh_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read { .. } => "identity_read",
            Self::Parse { .. } => "identity_parse",
        }
    }
}

#[derive(Debug, Deserialize)]
struct UserLine {
    #[serde(rename = "UserId", alias = "userId", alias = "userid")]
    user_id: String,
    #[serde(rename = "Username", alias = "UserName", alias = "username")]
    username: Option<String>,
}

/// User id -> user name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    names: HashMap<String, String>,
}

impl Directory {
    /// Parses JSONL text; blank lines are skipped, anything else that is not a user is an error naming the line.
    pub fn parse(path: &Path, text: &str) -> Result<Self, IdentityError> {
        let mut names = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let err = |reason: String| IdentityError::Parse { path: path.to_owned(), line: i + 1, reason };
            let user: UserLine = serde_json::from_str(raw).map_err(|e| err(e.to_string()))?;
            if user.user_id.trim().is_empty() {
                return Err(err("empty UserId".into()));
            }
            if let Some(name) = user.username.filter(|n| !n.trim().is_empty()) {
                names.insert(user.user_id, name);
            }
        }
        Ok(Self { names })
    }

    /// Reads and parses a users file.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| IdentityError::Read { path: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    /// The name to show for a user id: the directory's name, else the id itself.
    pub fn display_name<'a>(&'a self, user_id: &'a str) -> &'a str {
        self.names.get(user_id).map_or(user_id, String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_list_users_jsonl() {
        let text = "{\"Username\":\"user01\",\"UserId\":\"843884c8-00c1-7046-e4e8-7ba5acc6cfc7\"}\n\n\
                    {\"UserName\":\"Zoë \\\"Z\\\"\",\"UserId\":\"04d86408\"}\n";
        let d = Directory::parse(Path::new("u.jsonl"), text).unwrap();
        assert_eq!(d.display_name("843884c8-00c1-7046-e4e8-7ba5acc6cfc7"), "user01");
        assert_eq!(d.display_name("04d86408"), "Zoë \"Z\"");
        assert_eq!(d.display_name("not-there"), "not-there");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn a_broken_line_is_named() {
        let text = "{\"Username\":\"a\",\"UserId\":\"1\"}\n{\"Username\":\"b\",\n";
        let e = Directory::parse(Path::new("users.jsonl"), text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("users file users.jsonl, line 2:"), "{msg}");
        assert_eq!(e.kind(), "identity_parse");
    }
}
