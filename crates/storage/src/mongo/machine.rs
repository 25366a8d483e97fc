//! Every lifecycle operation as a small state machine, and the one rule that says what an
//! operation in progress means to readers and writers. Pure: no database. The executor
//! (`executor`) runs the step [`next_step`] names, records the phase it reaches, and asks again
//! until the operation is over; recovery is "claim the intent, then run it to the end".
//!
//! | operation | phases, in order | end |
//! |---|---|---|
//! | create | started | undone by recovery (a live create clears its own intent) |
//! | rename | started, admin_applied, (copying), moved, switched, source_dropped | intent removed |
//! | move | started, (copying), moved, switched, source_dropped | intent removed |
//! | delete | started, admins_removed, collection_dropped | record removed |

use orgsvc_domain::TenancyModel;

use super::records::{Intent, Location, Operation, OrganizationDoc, Phase};
use super::settings::RenameMode;

/// What a request wants of a tenant's collection: a read may be served from a rename's
/// source until the switch, a write must wait for the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Read,
    Write,
}

/// One idempotent step: running it again after it happened changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Rename: set the renamer's new email and password hash.
    ApplyCredentials,
    /// Within a database (`rename = "auto"`): one server-side `renameCollection`.
    RenameCollection,
    /// Elsewhere: copy the documents in `_id` order, resuming after `copied_until`.
    Copy,
    /// Point the metadata (location, and for a rename the name) at the target.
    Switch,
    /// Drop the source collection.
    DropSource,
    /// Remove the intent: the operation is over.
    Finish,
    /// Create, found by recovery: remove the founder (unless another roster lists them), the
    /// collection and the record.
    UndoCreate,
    /// Delete: remove the roster, and the users no other roster lists (nobody logs in to the
    /// organization any more).
    RemoveMembers,
    /// Delete: drop the collection.
    DropCollection,
    /// Delete: remove the record holding the intent: the operation is over.
    RemoveRecord,
}

impl Step {
    /// The phase the intent records once this step is done; `None` when the step ends the
    /// operation (the intent or the whole record is gone).
    #[must_use]
    pub const fn reaches(self) -> Option<Phase> {
        match self {
            Self::ApplyCredentials => Some(Phase::CredentialsApplied),
            Self::RenameCollection | Self::Copy => Some(Phase::Moved),
            Self::Switch => Some(Phase::Switched),
            Self::DropSource => Some(Phase::SourceDropped),
            Self::RemoveMembers => Some(Phase::MembersRemoved),
            Self::DropCollection => Some(Phase::CollectionDropped),
            Self::Finish | Self::UndoCreate | Self::RemoveRecord => None,
        }
    }
}

/// An intent whose phase its operation never reaches (written by hand, or corrupt).
#[derive(Debug, thiserror::Error)]
#[error("a {op} intent cannot be in phase {phase:?}")]
pub struct ImpossiblePhase {
    pub op: &'static str,
    pub phase: Phase,
}

/// The step that comes after `intent.phase`. `in_place`: the collection moves with one
/// `renameCollection` rather than by copying (see [`moves_in_place`]).
///
/// # Errors
/// When the phase does not belong to the operation.
pub fn next_step(intent: &Intent, in_place: bool) -> Result<Step, ImpossiblePhase> {
    let impossible = || ImpossiblePhase {
        op: intent.operation.name(),
        phase: intent.phase,
    };
    let relocate = || {
        if in_place {
            Step::RenameCollection
        } else {
            Step::Copy
        }
    };
    match (&intent.operation, intent.phase) {
        (Operation::Create, Phase::Started) => Ok(Step::UndoCreate),
        (Operation::Rename { admin: Some(_), .. }, Phase::Started) => Ok(Step::ApplyCredentials),
        (Operation::Rename { .. }, Phase::Started | Phase::CredentialsApplied)
        | (Operation::Move { .. }, Phase::Started) => Ok(relocate()),
        // Also in place: a rename that found its target left by an earlier attempt merges
        // into it by copying.
        (Operation::Rename { .. } | Operation::Move { .. }, Phase::Copying) => Ok(Step::Copy),
        (Operation::Rename { .. } | Operation::Move { .. }, Phase::Moved) => Ok(Step::Switch),
        (Operation::Rename { .. } | Operation::Move { .. }, Phase::Switched) => {
            Ok(Step::DropSource)
        }
        (Operation::Rename { .. } | Operation::Move { .. }, Phase::SourceDropped) => {
            Ok(Step::Finish)
        }
        (Operation::Delete, Phase::Started) => Ok(Step::RemoveMembers),
        (Operation::Delete, Phase::MembersRemoved) => Ok(Step::DropCollection),
        (Operation::Delete, Phase::CollectionDropped) => Ok(Step::RemoveRecord),
        _ => Err(impossible()),
    }
}

/// Whether a rename or move between these locations is one `renameCollection`: collections of
/// their own in the same cluster and database, and the operator did not ask for copies.
/// (Between tenancy models documents are copied: the shared collection tags each one.)
#[must_use]
pub fn moves_in_place(from: &Location, to: &Location, mode: RenameMode) -> bool {
    mode == RenameMode::Auto
        && from.cluster == to.cluster
        && from.database == to.database
        && from.model == TenancyModel::Collection
        && to.model == TenancyModel::Collection
}

/// Whether an operation that has reached `phase` can still be given up (nothing moved yet).
#[must_use]
pub fn can_abandon(phase: Phase) -> bool {
    phase < Phase::Moved
}

/// What a tenant read or write may do with an organization, given its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access<'a> {
    /// Serve it from this collection.
    At(&'a Location),
    /// It does not exist for requests: being created or deleted.
    Absent,
    /// Look again shortly: the data is moving at an instant nobody records (a
    /// `renameCollection`), or a write could miss a copy in progress.
    Wait,
}

/// The one rule for readers and writers. Once the data has reached the target (phase `moved`)
/// no step of the operation moves it again, so both go there. Before that, a copy keeps the
/// source complete, so reads go on there; writes wait (they would race the copy), and so does
/// everything while one `renameCollection` may happen at any moment.
///
/// A write served here is still checked afterwards against the epoch (see
/// [`OrganizationDoc::epoch`]): the record may be older than an operation that began since.
#[must_use]
pub fn tenant_access(record: &OrganizationDoc, purpose: Purpose, mode: RenameMode) -> Access<'_> {
    let Some(intent) = &record.intent else {
        return Access::At(&record.connection);
    };
    match &intent.operation {
        Operation::Create | Operation::Delete => Access::Absent,
        Operation::Rename { from, to, .. } | Operation::Move { from, to, .. } => {
            if intent.phase >= Phase::Moved || from == to {
                Access::At(to)
            } else if purpose == Purpose::Write || moves_in_place(from, to, mode) {
                Access::Wait
            } else {
                Access::At(from)
            }
        }
    }
}

/// Whether a lookup by `slug` finds this record. Until a rename switches, the organization is
/// still known by its old name (the record holds the old name and location, and reserves the
/// new slug); from the switch on, by the new one. Creates and deletes in progress are found by
/// nobody.
#[must_use]
pub fn found_by_slug(record: &OrganizationDoc, slug: &str) -> bool {
    match record.intent.as_ref() {
        None => record.slug == slug,
        Some(intent) => match &intent.operation {
            Operation::Create | Operation::Delete => false,
            Operation::Rename {
                from_slug: Some(old),
                ..
            } if intent.phase < Phase::Switched => old == slug,
            Operation::Rename { .. } | Operation::Move { .. } => record.slug == slug,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Purpose::{Read, Write};
    use RenameMode::{Auto, Copy as ByCopy};

    fn at(collection: &str) -> Location {
        Location {
            cluster: "default".into(),
            database: "tenants".into(),
            collection: collection.into(),
            model: TenancyModel::Collection,
        }
    }

    fn elsewhere(collection: &str) -> Location {
        Location {
            cluster: "other".into(),
            ..at(collection)
        }
    }

    fn rename(admin: bool, phase: Phase) -> Intent {
        Intent {
            operation: Operation::Rename {
                from: at("org_a"),
                to: at("org_b"),
                from_slug: Some("a".into()),
                new_name: "B".into(),
                admin: admin.then(|| super::super::records::AdminChange {
                    admin_id: "x".into(),
                    email: Some("b@b.io".into()),
                    previous_email: Some("a@a.io".into()),
                    password_hash: None,
                    token_version: Some(2),
                }),
                updated_at: None,
                copied_until: None,
            },
            phase,
            owner: "me".into(),
            lease_until: bson::DateTime::now(),
        }
    }

    fn intent(operation: Operation, phase: Phase) -> Intent {
        Intent {
            operation,
            phase,
            owner: "me".into(),
            lease_until: bson::DateTime::now(),
        }
    }

    fn moving(phase: Phase) -> Intent {
        intent(
            Operation::Move {
                from: at("org_a"),
                to: elsewhere("org_a"),
                copied_until: None,
            },
            phase,
        )
    }

    /// Runs the machine from `intent` to its end, as the executor would, and lists the steps.
    fn walk(mut intent: Intent, in_place: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        loop {
            let step = next_step(&intent, in_place).unwrap();
            steps.push(step);
            match step.reaches() {
                Some(phase) => intent.phase = phase,
                None => return steps,
            }
            assert!(steps.len() < 10, "no end: {steps:?}");
        }
    }

    #[test]
    fn a_rename_in_place_applies_the_admin_change_then_renames_switches_drops_and_finishes() {
        use Step::*;
        assert_eq!(
            walk(rename(true, Phase::Started), true),
            [
                ApplyCredentials,
                RenameCollection,
                Switch,
                DropSource,
                Finish
            ]
        );
        assert_eq!(
            walk(rename(false, Phase::Started), true),
            [RenameCollection, Switch, DropSource, Finish]
        );
    }

    #[test]
    fn copies_resume_copying_and_moves_never_touch_admins() {
        use Step::*;
        assert_eq!(
            walk(rename(true, Phase::Copying), false),
            [Copy, Switch, DropSource, Finish]
        );
        assert_eq!(
            walk(moving(Phase::Started), false),
            [Copy, Switch, DropSource, Finish]
        );
    }

    #[test]
    fn recovery_from_every_phase_runs_only_what_is_left() {
        use Step::*;
        assert_eq!(
            walk(rename(true, Phase::Moved), true),
            [Switch, DropSource, Finish]
        );
        assert_eq!(
            walk(rename(true, Phase::Switched), false),
            [DropSource, Finish]
        );
        assert_eq!(walk(moving(Phase::SourceDropped), false), [Finish]);
        assert_eq!(
            walk(intent(Operation::Delete, Phase::Started), false),
            [RemoveMembers, DropCollection, RemoveRecord]
        );
        assert_eq!(
            walk(intent(Operation::Delete, Phase::CollectionDropped), false),
            [RemoveRecord]
        );
        assert_eq!(
            walk(intent(Operation::Create, Phase::Started), false),
            [UndoCreate]
        );
    }

    #[test]
    fn phases_of_other_operations_are_refused() {
        for (intent, in_place) in [
            (intent(Operation::Delete, Phase::Switched), false),
            (intent(Operation::Create, Phase::Moved), false),
            (rename(false, Phase::MembersRemoved), true),
            (moving(Phase::CollectionDropped), false),
        ] {
            assert!(next_step(&intent, in_place).is_err(), "{intent:?}");
        }
    }

    #[test]
    fn only_operations_that_moved_nothing_can_be_given_up() {
        assert!(can_abandon(Phase::Started));
        assert!(can_abandon(Phase::CredentialsApplied));
        assert!(can_abandon(Phase::Copying));
        assert!(!can_abandon(Phase::Moved));
        assert!(!can_abandon(Phase::Switched));
    }

    fn record(intent: Option<Intent>) -> OrganizationDoc {
        OrganizationDoc {
            id: "id".into(),
            name: "A".into(),
            slug: "b".into(),
            admin_id: "x".into(),
            connection: at("org_a"),
            created_at: bson::DateTime::now(),
            updated_at: bson::DateTime::now(),
            epoch: 3,
            intent,
            deletion: None,
            export: None,
            last_export_sha256: None,
        }
    }

    #[test]
    fn writes_wait_until_the_data_reached_its_target_and_reads_wait_only_for_renames_in_place() {
        let to = at("org_b");
        let from = at("org_a");
        for phase in [Phase::Started, Phase::CredentialsApplied] {
            let r = record(Some(rename(true, phase)));
            assert_eq!(tenant_access(&r, Write, Auto), Access::Wait);
            assert_eq!(tenant_access(&r, Read, Auto), Access::Wait);
            assert_eq!(tenant_access(&r, Write, ByCopy), Access::Wait);
            // A copy leaves the source complete until the switch.
            assert_eq!(tenant_access(&r, Read, ByCopy), Access::At(&from));
        }
        for phase in [Phase::Moved, Phase::Switched, Phase::SourceDropped] {
            let r = record(Some(rename(true, phase)));
            for (purpose, mode) in [(Write, Auto), (Read, Auto), (Write, ByCopy), (Read, ByCopy)] {
                assert_eq!(tenant_access(&r, purpose, mode), Access::At(&to));
            }
        }
        // Moves between clusters are never one renameCollection, whatever the setting.
        let r = record(Some(moving(Phase::Copying)));
        assert_eq!(tenant_access(&r, Read, Auto), Access::At(&from));
        assert_eq!(tenant_access(&r, Write, Auto), Access::Wait);
    }

    #[test]
    fn organizations_being_created_or_deleted_do_not_exist_for_requests() {
        for operation in [Operation::Create, Operation::Delete] {
            let r = record(Some(intent(operation, Phase::Started)));
            assert_eq!(tenant_access(&r, Read, Auto), Access::Absent);
            assert!(!found_by_slug(&r, "b"));
            assert!(!found_by_slug(&r, "a"));
        }
        let r = record(None);
        assert_eq!(tenant_access(&r, Write, Auto), Access::At(&r.connection));
    }

    #[test]
    fn a_rename_is_found_by_its_old_name_until_the_switch_and_by_the_new_one_after() {
        for phase in [
            Phase::Started,
            Phase::CredentialsApplied,
            Phase::Copying,
            Phase::Moved,
        ] {
            let r = record(Some(rename(false, phase)));
            assert!(found_by_slug(&r, "a"), "{phase:?}");
            assert!(!found_by_slug(&r, "b"), "{phase:?}");
        }
        for phase in [Phase::Switched, Phase::SourceDropped] {
            let r = record(Some(rename(false, phase)));
            assert!(!found_by_slug(&r, "a"), "{phase:?}");
            assert!(found_by_slug(&r, "b"), "{phase:?}");
        }
        // Intents of earlier versions do not know the old slug: found by the new one.
        let mut legacy = rename(false, Phase::Started);
        if let Operation::Rename { from_slug, .. } = &mut legacy.operation {
            *from_slug = None;
        }
        assert!(found_by_slug(&record(Some(legacy)), "b"));
    }
}
