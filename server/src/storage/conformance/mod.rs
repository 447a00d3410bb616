//! The conformance suite every storage engine must pass: one case per contract of the
//! storage traits (accounts, offline, MUC and its archive, push, FAST tokens), each an `async fn`
//! taking an [`Opener`] that gives a fresh, empty [`crate::storage::Storage`]. [`crate::storage_suite!`]
//! makes one named test of each case, so one failure hides no other:
//!
//! ```ignore
//! mod sqlite {
//!     mucsub_server::storage_suite!(tokio::test, |max| async move {
//!         mucsub_server::storage::sqlite::open_in_memory(max).await.unwrap()
//!     });
//! }
//! ```
//!
//! `server/tests/storage_conformance.rs` runs it on SQLite (in memory and on a file) and
//! on PostgreSQL (a fresh database of the testkit's private server per case).

pub mod accounts;
pub mod archive;
pub mod fast;
pub mod muc;
pub mod offline;
mod opener;
pub mod push;

pub use opener::Opener;

/// One `#[$attr] async fn` test per case, each calling the case with the opener `$open`
/// (an expression evaluated per test: an [`Opener`]). Put it in a module of its own.
/// Every case is listed here once; a case without a line here is a dead function the
/// compiler reports.
#[macro_export]
macro_rules! storage_suite {
    ($attr:meta, $open:expr) => {
        $crate::storage_suite!(@cases $attr, $open;
            accounts::create_is_once_and_credentials_round_trip,
            accounts::set_credentials_only_for_existing_accounts,
            accounts::list_is_sorted,
            accounts::remove_cascades_to_offline_and_push_only,
            offline::queue_is_fifo_per_account_and_bounded,
            offline::remove_takes_only_the_given_ids_of_that_account,
            offline::concurrent_pushes_never_pass_the_bound,
            offline::stanzas_round_trip_byte_for_byte,
            muc::room_round_trips_with_config_subject_affiliations_subscriptions,
            muc::resubscribing_is_idempotent_and_keeps_the_place,
            muc::affiliation_none_removes_it,
            muc::a_failed_commit_writes_nothing,
            muc::account_subscriptions_list_rooms_never_loaded_with_the_sync_hint,
            muc::quota_counts_come_from_storage,
            muc::room_quota_commit_counts_in_the_same_transaction,
            muc::public_rooms_are_listed_by_name_with_titles,
            muc::room_names_list_every_room_public_or_not,
            muc::max_archive_id_spans_every_room,
            muc::destroying_a_room_removes_everything_of_it_only,
            muc::stale_temporary_rooms_go_unless_subscribed,
            muc::subscriptions_of_deleted_accounts_are_purged,
            muc::origin_ids_deduplicate_per_room_and_sender,
            muc::join_history_is_the_newest_oldest_first,
            archive::forward_and_backward_paging,
            archive::form_filters,
            archive::unknown_ids_are_refused,
            archive::ids_and_cursors_are_per_room,
            archive::whole_room_count_follows_inserts_and_destroy,
            archive::duplicates_around_a_destroy_are_reported_and_not_counted,
            archive::filtered_count_is_left_out_past_the_cap,
            archive::max_zero_asks_only_for_the_count,
            archive::bounds_are_the_oldest_and_newest,
            archive::a_walk_never_skips_or_repeats_while_messages_arrive,
            push::enable_replaces_the_same_node_and_disable_removes,
            push::the_oldest_registration_goes_past_the_cap,
            push::registrations_need_an_account_and_go_with_it,
            push::all_lists_every_account_oldest_first,
            push::the_first_vapid_key_stored_wins,
            fast::issue_replaces_an_unused_token_and_round_trips_every_field,
            fast::using_the_new_token_rotates_it_into_the_current_place,
            fast::counts_must_grow_and_a_replay_is_refused,
            fast::concurrent_uses_of_one_count_accept_once,
            fast::revoke_one_device_or_all,
            fast::tokens_need_an_account_and_go_with_it,
            fast::the_service_refuses_expired_and_revoked_tokens,
        );
    };
    (@cases $attr:meta, $open:expr; $($group:ident :: $case:ident,)*) => {
        $(
            #[$attr]
            async fn $case() {
                $crate::storage::conformance::$group::$case($open).await;
            }
        )*
    };
}
