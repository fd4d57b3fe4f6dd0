//! The bcrypt side of basic auth: verified pairs cached per outcome, at most one bcrypt check at a time per
//! user (as exporter-toolkit does), and the form check of a hash that costs nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Most pairs remembered per outcome; past it that set starts again (failures never evict successes).
pub(super) const CACHED_PAIRS: usize = 1024;

/// The bcrypt side of basic auth: cached outcomes and one turn at a time per user.
#[derive(Default)]
pub(super) struct PasswordChecks {
    /// Digests of (user, password, hash) that matched, and that did not.
    good: Mutex<HashSet<[u8; 32]>>,
    bad: Mutex<HashSet<[u8; 32]>>,
    /// One lock per hash checked against (a user's, or the dummy one for unknown users).
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// bcrypt checks running now, and the most seen at once (for the tests).
    running: AtomicUsize,
    pub(super) most_running: AtomicUsize,
}

impl PasswordChecks {
    pub(super) fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        if self.good.lock().unwrap_or_else(|e| e.into_inner()).contains(key) {
            return Some(true);
        }
        self.bad.lock().unwrap_or_else(|e| e.into_inner()).contains(key).then_some(false)
    }

    pub(super) fn remember(&self, key: [u8; 32], ok: bool) {
        let set = if ok { &self.good } else { &self.bad };
        let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
        if set.len() >= CACHED_PAIRS {
            set.clear();
        }
        set.insert(key);
    }

    pub(super) fn turn(&self, hash: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner()).entry(hash.to_owned()).or_default().clone()
    }

    /// Forgets the turns of hashes no longer configured (after a reload).
    pub(super) fn keep_turns_of(&self, users: &BTreeMap<String, String>) {
        self.turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|hash, _| hash == DUMMY_HASH || users.values().any(|h| h == hash));
    }

    /// bcrypt, counted.
    pub(super) fn verify(&self, password: &str, hash: &str) -> bool {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        self.running.fetch_sub(1, Ordering::SeqCst);
        ok
    }
}

/// Whether `hash` is a bcrypt hash bcrypt can check, without paying its cost: its form, cost range and
/// salt are checked by verifying against the same salt at the lowest cost.
pub(super) fn valid_bcrypt(hash: &str) -> bool {
    let Ok(parts) = hash.parse::<bcrypt::HashParts>() else { return false };
    let Some(salt_and_hash) = hash.rsplit('$').next() else { return false };
    (4..=31).contains(&parts.get_cost()) && bcrypt::verify("", &format!("$2b$04${salt_and_hash}")).is_ok()
}

/// A well-formed bcrypt hash that matches no password anyone would send: unknown users are checked against
/// it so that a wrong user name takes as long as a wrong password.
pub(super) const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
