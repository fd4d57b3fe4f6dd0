//! The `user` and `team` labels of a user id: pure rules over a directory snapshot.
//!
//! - `user`: chosen by `--identity.user-label` (`username`, `email`, `display-name`, `user-id`, `hash`); a
//!   user not in the directory, or without that attribute, shows the user id (hash mode hashes every id).
//! - `team`: the users file's `Team` when given; else the groups matching `--identity.team-group-pattern`
//!   (the first capture group, or the whole group name when the pattern has none). A user in several
//!   matching groups gets the alphabetically first team name, so every user has exactly one team and
//!   `sum by (team)` never double counts. No match: `--identity.default-team` (default empty).

use regex::Regex;
use sha2::{Digest, Sha256};

use super::{Directory, DirectoryUser};

/// What the `user` label shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserLabel {
    Username,
    Email,
    DisplayName,
    UserId,
    /// A salted SHA-256 of the user id (16 hex digits), stable across restarts.
    Hash,
}

/// How labels are derived.
#[derive(Debug, Clone)]
pub struct LabelRules {
    pub user_label: UserLabel,
    pub team_pattern: Option<Regex>,
    pub default_team: String,
    pub hash_salt: String,
}

impl Default for LabelRules {
    fn default() -> Self {
        Self {
            user_label: UserLabel::Username,
            team_pattern: None,
            default_team: String::new(),
            hash_salt: String::new(),
        }
    }
}

/// The labels of one user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserLabels {
    /// The `user_id` label: the Identity Center id, or its hash in `hash` mode (so no label leaks it).
    pub user_id: String,
    pub user: String,
    pub team: String,
}

/// The salted hash shown in `hash` mode.
pub fn hash_user(salt: &str, user_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(user_id.as_bytes());
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl LabelRules {
    /// The team of a directory user.
    pub fn team_of(&self, u: &DirectoryUser) -> String {
        if let Some(t) = non_empty(&u.team) {
            return t.to_owned();
        }
        let Some(re) = &self.team_pattern else { return self.default_team.clone() };
        u.groups
            .iter()
            .filter_map(|g| {
                let caps = re.captures(g)?;
                let team = caps.get(1).or_else(|| caps.get(0))?.as_str().trim();
                (!team.is_empty()).then(|| team.to_owned())
            })
            .min()
            .unwrap_or_else(|| self.default_team.clone())
    }

    /// The labels of a user id, with `directory` as known now (`None`: nothing known yet).
    pub fn labels(&self, user_id: &str, directory: Option<&Directory>) -> UserLabels {
        let found = directory.and_then(|d| d.get(user_id));
        let user = match (self.user_label, found) {
            (UserLabel::Hash, _) => hash_user(&self.hash_salt, user_id),
            (UserLabel::UserId, _) | (_, None) => user_id.to_owned(),
            (UserLabel::Username, Some(u)) => non_empty(&u.user_name).unwrap_or(user_id).to_owned(),
            (UserLabel::Email, Some(u)) => non_empty(&u.email).unwrap_or(user_id).to_owned(),
            (UserLabel::DisplayName, Some(u)) => non_empty(&u.display_name).unwrap_or(user_id).to_owned(),
        };
        let team = found.map_or_else(|| self.default_team.clone(), |u| self.team_of(u));
        let user_id = if self.user_label == UserLabel::Hash { user.clone() } else { user_id.to_owned() };
        UserLabels { user_id, user, team }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, groups: &[&str]) -> DirectoryUser {
        DirectoryUser {
            user_id: id.into(),
            user_name: Some(format!("name-{id}")),
            display_name: Some(format!("Display {id}")),
            email: Some(format!("{id}@example.com")),
            team: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn rules(pattern: Option<&str>) -> LabelRules {
        LabelRules { team_pattern: pattern.map(|p| Regex::new(p).unwrap()), ..LabelRules::default() }
    }

    #[test]
    fn team_from_the_capture_group_and_the_first_of_several() {
        let r = rules(Some("^team-(.+)$"));
        assert_eq!(r.team_of(&user("a", &["everyone", "team-search"])), "search");
        assert_eq!(r.team_of(&user("b", &["team-web", "team-api", "admins"])), "api", "alphabetically first");
        assert_eq!(r.team_of(&user("c", &["everyone"])), "", "no match -> default");
        let whole = rules(Some("^squad"));
        assert_eq!(whole.team_of(&user("d", &["squad-7"])), "squad", "no group: the match itself");
        let mut explicit = user("e", &["team-web"]);
        explicit.team = Some("platform".into());
        assert_eq!(r.team_of(&explicit), "platform", "the users file's Team wins");
        let with_default = LabelRules { default_team: "unassigned".into(), ..rules(Some("^team-(.+)$")) };
        assert_eq!(with_default.team_of(&user("f", &[])), "unassigned");
    }

    #[test]
    fn user_label_modes_and_fallbacks() {
        let mut dir = Directory::default();
        dir.insert(user("u1", &[]));
        dir.insert(DirectoryUser { user_id: "u2".into(), ..DirectoryUser::default() });
        let label =
            |mode, id: &str| LabelRules { user_label: mode, ..LabelRules::default() }.labels(id, Some(&dir)).user;
        assert_eq!(label(UserLabel::Username, "u1"), "name-u1");
        assert_eq!(label(UserLabel::Email, "u1"), "u1@example.com");
        assert_eq!(label(UserLabel::DisplayName, "u1"), "Display u1");
        assert_eq!(label(UserLabel::UserId, "u1"), "u1");
        assert_eq!(label(UserLabel::Email, "u2"), "u2", "no email -> id");
        assert_eq!(label(UserLabel::Username, "gone"), "gone", "deleted user -> id");
        assert_eq!(LabelRules::default().labels("u1", None).user, "u1", "no directory yet");
    }

    #[test]
    fn hashes_are_salted_stable_and_hide_the_id() {
        let r = LabelRules { user_label: UserLabel::Hash, hash_salt: "s1".into(), ..LabelRules::default() };
        let a = r.labels("843884c8-00c1", None).user;
        assert_eq!(r.labels("843884c8-00c1", None).user_id, a, "the user_id label is hashed too");
        assert_eq!(a, r.labels("843884c8-00c1", None).user);
        assert_eq!(a.len(), 16);
        assert!(!a.contains("843884c8"));
        assert_ne!(a, hash_user("s2", "843884c8-00c1"), "the salt matters");
        assert_ne!(a, hash_user("s1", "843884c8-00c2"));
        // sha256("s1\0843884c8-00c1"), first 8 bytes: computed independently with Python's hashlib.
        assert_eq!(a, EXPECTED_HASH);
    }

    const EXPECTED_HASH: &str = "1f5449a5f4b5f536";
}
