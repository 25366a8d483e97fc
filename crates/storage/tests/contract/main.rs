//! The storage port contract, checked against every adapter. `suite` holds the checks, generic
//! over the ports; each adapter module instantiates all of them with `contract_tests!`.

mod suite;

/// Declares one `#[tokio::test]` per contract check, each on a fresh store from `$make`
/// (`None` when the adapter's server is unavailable and the test says so and skips).
macro_rules! contract_tests {
    ($make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(store) = $make(stringify!($check)).await else { return };
                crate::suite::$check(&store.store).await;
            }
        )+
    };
}

macro_rules! all_contract_tests {
    ($make:expr) => {
        contract_tests!($make;
            created_organizations_are_found_by_slug_id_and_admin,
            a_taken_slug_or_email_rejects_a_create_and_leaves_nothing_behind,
            concurrent_creates_of_one_name_have_exactly_one_winner,
            a_rename_moves_every_document_and_keeps_the_id,
            a_rename_onto_a_taken_slug_changes_nothing,
            respelling_keeps_the_collection,
            an_email_change_frees_the_old_email_and_guards_the_new_one,
            an_update_by_an_admin_of_another_organization_is_not_found,
            a_delete_removes_the_organization_its_users_and_documents,
            documents_are_stored_paged_replaced_and_deleted,
            documents_of_one_organization_are_invisible_to_another,
            renaming_or_deleting_one_organization_leaves_anothers_documents_alone,
            documents_of_an_unknown_organization_are_refused,
            a_reachable_store_answers_ping,
            credential_changes_and_revocation_raise_the_token_version,
            login_attempts_are_numbered_atomically_and_lock_until_a_time,
            audit_events_are_kept_per_organization_newest_first_and_outlive_it,
            a_founder_owns_the_new_organization_and_may_found_another,
            a_roster_is_written_only_at_the_version_it_was_read_at,
            concurrent_roster_writes_from_one_read_have_exactly_one_winner,
            a_removal_racing_an_addition_elsewhere_never_strands_a_member,
            a_delete_racing_an_addition_elsewhere_never_strands_a_member,
            a_delete_keeps_the_record_of_what_it_removed,
            users_are_removed_when_no_roster_lists_them_any_more,
            an_organization_is_shown_with_its_longest_standing_owner,
            a_rename_needs_the_renamers_current_role,
            api_keys_are_kept_with_the_roster_through_a_rename_and_go_with_it,
            every_committed_change_yields_its_events_in_commit_order_and_a_failed_one_none,
            a_deleted_organization_tells_the_endpoints_it_had_and_its_outbox_goes_after,
            claims_keep_workers_apart_and_releases_say_when_to_come_back,
            replays_are_bounded_and_consumed_only_when_read,
            concurrent_changes_of_one_organization_get_consecutive_numbers,
            a_snapshot_shows_the_documents_as_they_were_when_it_opened,
            one_snapshot_per_organization_and_closing_lets_go,
            a_snapshot_reads_on_through_a_rename,
            nothing_of_a_deleted_organization_is_read_from_its_snapshot,
            a_snapshot_opened_amid_writes_has_each_write_from_before_and_none_from_after,
            a_deletion_names_the_last_export_if_there_was_one,
            one_export_per_organization_at_a_time_and_a_bounded_queue,
            export_claims_keep_workers_apart_and_chunks_need_the_claim,
            a_retried_export_waits_its_turn_and_a_waiting_one_keeps_its_attempts,
            expired_exports_are_purged_with_their_chunks_and_deleted_organizations_lose_theirs,
            an_organization_keeps_a_bounded_number_of_exports,
        );
    };
}

mod cached;
mod embedded;
mod fake;
mod fixture;
mod mongodb;
mod mongodb_schema;
