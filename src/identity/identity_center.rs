//! IAM Identity Center through aws-sdk-identitystore (and sso-admin to discover the identity store).
//!
//! Reads every user (ListUsers, paginated) for user name, display name and primary email, and, when a team
//! pattern is configured, the members of the groups that match it (ListGroups, then
//! ListGroupMemberships per matching group: far fewer calls than one per user).

use async_trait::async_trait;
use aws_sdk_identitystore::types::MemberId;
use regex::Regex;

use super::{Directory, DirectorySource, DirectoryUser, IdentityError};

/// Page size of the List* calls (the API's maximum).
const PAGE: i32 = 100;

/// Identity Center as a directory.
pub struct IdentityCenter {
    store: aws_sdk_identitystore::Client,
    sso: aws_sdk_ssoadmin::Client,
    store_id: Option<String>,
    team_pattern: Option<Regex>,
}

fn api<E: std::error::Error + Send + Sync + 'static>(operation: &'static str) -> impl Fn(E) -> IdentityError {
    move |e| IdentityError::Api { operation, source: Box::new(e) }
}

impl IdentityCenter {
    pub fn new(sdk: &aws_config::SdkConfig, store_id: Option<String>, team_pattern: Option<Regex>) -> Self {
        Self {
            store: aws_sdk_identitystore::Client::new(sdk),
            sso: aws_sdk_ssoadmin::Client::new(sdk),
            store_id,
            team_pattern,
        }
    }

    async fn store_id(&self) -> Result<String, IdentityError> {
        if let Some(id) = &self.store_id {
            return Ok(id.clone());
        }
        let out = self.sso.list_instances().send().await.map_err(api("sso-admin ListInstances"))?;
        out.instances().iter().find_map(|i| i.identity_store_id().map(str::to_owned)).ok_or(IdentityError::NoInstance)
    }
}

#[async_trait]
impl DirectorySource for IdentityCenter {
    fn name(&self) -> &'static str {
        "identity_center"
    }

    async fn fetch(&self) -> Result<Directory, IdentityError> {
        let store_id = self.store_id().await?;
        let mut dir = Directory::default();
        let mut pages = self.store.list_users().identity_store_id(&store_id).max_results(PAGE).into_paginator().send();
        while let Some(page) = pages.next().await {
            for u in page.map_err(api("identitystore ListUsers"))?.users() {
                let email = u
                    .emails()
                    .iter()
                    .find(|e| e.primary())
                    .or_else(|| u.emails().first())
                    .and_then(|e| e.value().map(str::to_owned));
                dir.insert(DirectoryUser {
                    user_id: u.user_id().to_owned(),
                    user_name: u.user_name().map(str::to_owned),
                    display_name: u.display_name().map(str::to_owned),
                    email,
                    team: None,
                    groups: Vec::new(),
                });
            }
        }
        let Some(pattern) = &self.team_pattern else { return Ok(dir) };
        let mut groups = Vec::new();
        let mut pages = self.store.list_groups().identity_store_id(&store_id).max_results(PAGE).into_paginator().send();
        while let Some(page) = pages.next().await {
            for g in page.map_err(api("identitystore ListGroups"))?.groups() {
                if let Some(name) = g.display_name().filter(|n| pattern.is_match(n)) {
                    groups.push((g.group_id().to_owned(), name.to_owned()));
                }
            }
        }
        for (group_id, name) in groups {
            let mut pages = self
                .store
                .list_group_memberships()
                .identity_store_id(&store_id)
                .group_id(&group_id)
                .max_results(PAGE)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for m in page.map_err(api("identitystore ListGroupMemberships"))?.group_memberships() {
                    if let Some(MemberId::UserId(user_id)) = m.member_id()
                        && let Some(u) = dir.users.get_mut(user_id)
                    {
                        u.groups.push(name.clone());
                    }
                }
            }
        }
        Ok(dir)
    }
}
