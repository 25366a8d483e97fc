//! The member-store fake: rosters in the fake's state, written only at the version read.

use super::{belongs_nowhere, email_taken, FakeStore};
use crate::errors::{SaveRosterError, StoreError};
use crate::ids::{OrganizationId, UserId};
use crate::members::{Membership, Roster};
use crate::ports::MemberStore;
use crate::user::User;
use crate::webhooks::roster_events;

impl MemberStore for FakeStore {
    async fn find_roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<Roster>, StoreError> {
        Ok(self.state()?.rosters.get(organization).cloned())
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, StoreError> {
        let state = self.state()?;
        Ok(state
            .rosters
            .values()
            .filter_map(|r| {
                r.role_of(user).map(|role| Membership {
                    organization_id: r.organization_id,
                    role,
                })
            })
            .collect())
    }

    async fn save_roster(
        &self,
        roster: &Roster,
        joining: Option<&User>,
    ) -> Result<(), SaveRosterError> {
        let mut state = self.state()?;
        let Some(stored) = state.rosters.get(&roster.organization_id) else {
            return Err(SaveRosterError::Conflict);
        };
        if stored.version != roster.version {
            return Err(SaveRosterError::Conflict);
        }
        let before = stored.clone();
        let added_user_gone = roster.members.iter().any(|member| {
            before.role_of(&member.user_id).is_none()
                && joining.is_none_or(|user| user.id != member.user_id)
                && !state.admins.contains_key(&member.user_id)
        });
        if added_user_gone {
            return Err(SaveRosterError::Conflict);
        }
        if let Some(user) = joining {
            if email_taken(&state, &user.email, None) {
                return Err(SaveRosterError::EmailTaken {
                    email: user.email.clone(),
                });
            }
            state.admins.insert(user.id, user.clone());
        }
        let mut saved = roster.clone();
        saved.version += 1;
        let events = roster_events(&before, &saved);
        state.rosters.insert(roster.organization_id, saved);
        super::outbox::append(&mut state, roster.organization_id, events);
        for member in before.members {
            if belongs_nowhere(&state, &member.user_id) {
                state.admins.remove(&member.user_id);
            }
        }
        Ok(())
    }

    async fn find_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let state = self.state()?;
        Ok(ids
            .iter()
            .filter_map(|id| state.admins.get(id).cloned())
            .collect())
    }
}
