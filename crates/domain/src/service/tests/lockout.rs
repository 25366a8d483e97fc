//! The lockout: per account and address, per account from everywhere, and what each leaves a
//! victim able to do.

use crate::service::{OrganizationApi as _, SessionApi as _};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use super::{create, create_command, email, harness, password, rename_to, Harness};
use crate::ports::{AttemptKey, Clock as _, LoginAttempts as _};
use crate::{
    AuditAction, CreateOrganizationError, LoginError, LoginPolicy, Origin, UpdateOrganization,
    UpdateOrganizationError,
};

fn from(ip: &str) -> Origin {
    Origin {
        ip: Some(ip.parse().unwrap()),
    }
}

/// The `n`th of many distinct attacker addresses.
fn attacker(n: u32) -> Origin {
    Origin {
        ip: Some(IpAddr::V4(std::net::Ipv4Addr::from(0xC633_6400 + n))),
    }
}

async fn log_in(h: &Harness, origin: &Origin, account: &str, word: &str) -> Result<(), LoginError> {
    h.service
        .login(origin, &email(account), &password(word), None)
        .await
        .map(|_| ())
}

fn policy() -> LoginPolicy {
    LoginPolicy::default()
}

fn seconds(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap()
}

#[tokio::test]
async fn an_address_locks_after_the_limit_and_unknown_emails_lock_the_same_way() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    for account in ["a@acme.io", "nobody@acme.io"] {
        for _ in 0..policy().per_address.max_failures {
            let failed = log_in(&h, &Origin::default(), account, "wrong guess").await;
            assert!(
                matches!(failed, Err(LoginError::InvalidCredentials)),
                "{account}"
            );
        }
        let verifications = h.hasher.verifications.load(Ordering::SeqCst);
        // Locked: even the right password is refused, and nothing is hashed.
        let locked = log_in(&h, &Origin::default(), account, "correct horse").await;
        assert!(
            matches!(
                locked,
                Err(LoginError::Locked {
                    retry_after_seconds: 60
                })
            ),
            "{account}: {locked:?}"
        );
        assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), verifications);
    }
}

/// The probe's attack: five wrong passwords each time the lock runs out, for eight cycles. The
/// attacker's address stays locked for longer each time; the owner, from their own address,
/// logs in every time.
#[tokio::test]
async fn lock_cycles_from_one_address_never_lock_the_owner_out() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let (thief, owner) = (from("198.51.100.7"), from("203.0.113.9"));
    let mut retry_afters = Vec::new();
    for _ in 0..8 {
        for _ in 0..policy().per_address.max_failures {
            let _ = log_in(&h, &thief, "a@acme.io", "wrong guess").await;
        }
        match log_in(&h, &thief, "a@acme.io", "correct horse").await {
            Err(LoginError::Locked {
                retry_after_seconds,
            }) => retry_afters.push(retry_after_seconds),
            other => panic!("the thief's address must be locked: {other:?}"),
        }
        log_in(&h, &owner, "a@acme.io", "correct horse")
            .await
            .expect("the owner logs in from their own address");
        h.clock.advance(chrono::Duration::seconds(
            i64::try_from(retry_afters[retry_afters.len() - 1]).unwrap(),
        ));
    }
    assert_eq!(retry_afters, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
}

/// An IPv6 client is one /64: stepping through its addresses buys no fresh attempts.
#[tokio::test]
async fn an_ipv6_block_counts_as_one_address() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    for n in 0..policy().per_address.max_failures {
        let origin = from(&format!("2001:db8:1:2::{n:x}"));
        let _ = log_in(&h, &origin, "a@acme.io", "wrong guess").await;
    }
    let locked = log_in(
        &h,
        &from("2001:db8:1:2:ffff::1"),
        "a@acme.io",
        "correct horse",
    )
    .await;
    assert!(
        matches!(locked, Err(LoginError::Locked { .. })),
        "{locked:?}"
    );
    log_in(&h, &from("2001:db8:1:3::1"), "a@acme.io", "correct horse")
        .await
        .unwrap();
}

#[test]
fn attempt_keys_name_the_account_and_the_address_block() {
    let account = email("a@acme.io");
    assert_eq!(AttemptKey::account(&account).as_str(), "a@acme.io");
    let key = |ip: &str| AttemptKey::from_address(&account, Some(ip.parse().unwrap()));
    assert_eq!(key("198.51.100.7").as_str(), "a@acme.io from 198.51.100.7");
    assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"));
    assert_eq!(
        key("2001:db8::1:2:3:4").as_str(),
        "a@acme.io from 2001:db8::/64"
    );
    assert_eq!(
        AttemptKey::from_address(&account, None).as_str(),
        "a@acme.io from unknown"
    );
}

/// Guesses spread over many addresses, a few from each, run into the account's own count: it
/// delays the account, briefly and for at most a minute however long the attack goes on, and
/// the owner gets in as soon as each delay ends.
#[tokio::test]
async fn guesses_from_many_addresses_delay_the_account_briefly() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let limit = policy().per_account;
    let owner = from("203.0.113.9");
    let mut next = 0;
    let mut delays = Vec::new();
    for _ in 0..4 {
        for _ in 0..limit.max_failures {
            next += 1;
            let failed = log_in(&h, &attacker(next), "a@acme.io", "wrong guess").await;
            assert!(matches!(failed, Err(LoginError::InvalidCredentials)));
        }
        let verifications = h.hasher.verifications.load(Ordering::SeqCst);
        match log_in(&h, &owner, "a@acme.io", "correct horse").await {
            Err(LoginError::Locked {
                retry_after_seconds,
            }) => delays.push(retry_after_seconds),
            other => panic!("the account must be delayed: {other:?}"),
        }
        assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), verifications);
        h.clock.advance(chrono::Duration::seconds(
            i64::try_from(delays[delays.len() - 1]).unwrap(),
        ));
    }
    assert_eq!(delays, [15, 30, 60, 60]);
    log_in(&h, &owner, "a@acme.io", "correct horse")
        .await
        .expect("the owner gets in once the delay is over");
    // The success started the account's count again.
    next += 1;
    let failed = log_in(&h, &attacker(next), "a@acme.io", "wrong guess").await;
    assert!(matches!(failed, Err(LoginError::InvalidCredentials)));
}

/// Guesses from an address that is locked never reach the account's count, so one attacker
/// hammering away cannot delay the account for its owner.
#[tokio::test]
async fn guesses_refused_at_a_locked_address_do_not_count_on_the_account() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let thief = from("198.51.100.7");
    for _ in 0..policy().per_account.max_failures * 3 {
        let _ = log_in(&h, &thief, "a@acme.io", "wrong guess").await;
    }
    log_in(&h, &from("203.0.113.9"), "a@acme.io", "correct horse")
        .await
        .unwrap();
}

/// An attempt the account's delay refused was never checked, so it does not count on the
/// owner's address: retrying through a delay does not lock the owner's own address.
#[tokio::test]
async fn retries_through_a_delay_do_not_count_on_the_owners_address() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    for n in 0..policy().per_account.max_failures {
        let _ = log_in(&h, &attacker(n), "a@acme.io", "wrong guess").await;
    }
    let owner = from("203.0.113.9");
    for _ in 0..policy().per_address.max_failures * 2 {
        let delayed = log_in(&h, &owner, "a@acme.io", "correct horse").await;
        assert!(
            matches!(delayed, Err(LoginError::Locked { .. })),
            "{delayed:?}"
        );
    }
    h.clock.advance(seconds(policy().per_account.lockout));
    // One typo after the delay is one failure, not the one that locks.
    let typo = log_in(&h, &owner, "a@acme.io", "correct hrose").await;
    assert!(
        matches!(typo, Err(LoginError::InvalidCredentials)),
        "{typo:?}"
    );
    log_in(&h, &owner, "a@acme.io", "correct horse")
        .await
        .unwrap();
}

#[test]
fn each_further_lock_doubles_up_to_its_longest() {
    let per_address = policy().per_address;
    let secs: Vec<u64> = (0..8)
        .map(|n| per_address.lock_duration(n).as_secs())
        .collect();
    assert_eq!(secs, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(per_address.lock_duration(u32::MAX).as_secs(), 3600);
    let per_account = policy().per_account;
    let secs: Vec<u64> = (0..4)
        .map(|n| per_account.lock_duration(n).as_secs())
        .collect();
    assert_eq!(secs, [15, 30, 60, 60]);
}

#[tokio::test]
async fn a_success_resets_the_count_of_failures() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    for _ in 0..3 {
        for _ in 0..policy().per_address.max_failures - 1 {
            let _ = log_in(&h, &Origin::default(), "a@acme.io", "wrong guess").await;
        }
        log_in(&h, &Origin::default(), "a@acme.io", "correct horse")
            .await
            .unwrap();
    }
}

/// A busy hasher answers 503 and counts nothing: a storm of them does not lock anybody.
#[tokio::test]
async fn a_busy_hasher_is_overloaded_not_a_failure() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    h.hasher.overloaded.store(true, Ordering::SeqCst);
    for _ in 0..policy().per_account.max_failures * 2 {
        let login = log_in(&h, &Origin::default(), "a@acme.io", "correct horse").await;
        assert!(matches!(login, Err(LoginError::Overloaded)), "{login:?}");
    }
    let create = h
        .service
        .create_organization(&Origin::default(), create_command("Globex", "g@globex.io"))
        .await;
    assert!(matches!(create, Err(CreateOrganizationError::Overloaded)));
    h.hasher.overloaded.store(false, Ordering::SeqCst);
    log_in(&h, &Origin::default(), "a@acme.io", "correct horse")
        .await
        .unwrap();
}

#[tokio::test]
async fn attempts_in_flight_up_to_the_limit_make_further_ones_wait_briefly() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let key = AttemptKey::from_address(&email("a@acme.io"), None);
    let now = h.clock.now();
    // Five checks from this address are running (begun, not yet answered).
    for _ in 0..policy().per_address.max_failures {
        h.store.begin_login_attempt(&key, now).await.unwrap();
    }
    let waiting = log_in(&h, &Origin::default(), "a@acme.io", "correct horse").await;
    assert!(
        matches!(
            waiting,
            Err(LoginError::Locked {
                retry_after_seconds: 1
            })
        ),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn attempts_abandoned_by_a_dead_process_are_forgotten_after_a_lockout_period() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let long_ago = h.clock.now() - chrono::Duration::hours(2);
    for key in [
        AttemptKey::from_address(&email("a@acme.io"), None),
        AttemptKey::account(&email("a@acme.io")),
    ] {
        for _ in 0..policy().per_account.max_failures {
            h.store.begin_login_attempt(&key, long_ago).await.unwrap();
        }
    }
    log_in(&h, &Origin::default(), "a@acme.io", "correct horse")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lockout_and_unknown_accounts_are_audited_too() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let origin = from("203.0.113.9");
    for _ in 0..policy().per_address.max_failures {
        let _ = log_in(&h, &origin, "a@acme.io", "wrong guess").await;
    }
    let _ = log_in(&h, &origin, "nobody@acme.io", "wrong guess").await;
    let events = h.store.audit_events();
    let locked = events
        .iter()
        .find(|e| e.action == AuditAction::AccountLocked)
        .expect("the lock is audited");
    assert!(locked.details["locked_until"].is_string());
    assert_eq!(locked.details["scope"], "address");
    assert_eq!(locked.ip, origin.ip);
    let unknown = events.last().unwrap();
    assert_eq!(unknown.action, AuditAction::LoginFailed);
    assert_eq!((unknown.organization_id, unknown.actor), (None, None));
    assert_eq!(unknown.details["email"], "nobody@acme.io");
}

/// A stolen token cannot test passwords through PUT /org/update: a `password` sent without
/// `current_password` that is not the current one is a failed guess, audited, and the
/// lockout's limit of them locks the caller's address like failed logins do.
#[tokio::test]
async fn guessing_the_password_through_an_update_is_counted_audited_and_locked() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let origin = Origin::default();
    let guess = |word: &'static str| {
        h.service.update_organization(
            &origin,
            &principal,
            UpdateOrganization {
                password: Some(password(word)),
                ..rename_to("Acme")
            },
        )
    };
    let max_failures = policy().per_address.max_failures;
    for _ in 0..max_failures {
        let refused = guess("a wrong guess").await;
        assert!(
            matches!(
                refused,
                Err(UpdateOrganizationError::CurrentPasswordRequired)
            ),
            "{refused:?}"
        );
    }
    let locked = guess("correct horse").await;
    assert!(
        matches!(locked, Err(UpdateOrganizationError::Locked { .. })),
        "the right guess after the limit must not tell itself apart: {locked:?}"
    );
    let failed = h
        .store
        .audit_events()
        .iter()
        .filter(|e| e.action == AuditAction::LoginFailed)
        .count();
    assert_eq!(failed, usize::try_from(max_failures).unwrap() + 1);
    assert!(h
        .store
        .audit_events()
        .iter()
        .any(|e| e.action == AuditAction::AccountLocked));
}

/// Guesses at an email nobody has lock it like any account (answers do not tell which exist),
/// but the lock does not outlive the sign-up of whoever owns that email, not even at the
/// address the guesses came from.
#[tokio::test]
async fn a_lock_on_an_email_without_an_account_ends_when_it_signs_up() {
    let h = harness();
    let origin = from("203.0.113.9");
    for n in 0..policy().per_account.max_failures {
        let guesser = if n < policy().per_address.max_failures {
            origin
        } else {
            attacker(n)
        };
        let _ = log_in(&h, &guesser, "new@acme.io", "a wrong guess").await;
    }
    let locked = log_in(&h, &origin, "new@acme.io", "correct horse").await;
    assert!(
        matches!(locked, Err(LoginError::Locked { .. })),
        "{locked:?}"
    );
    h.service
        .create_organization(&origin, create_command("Acme", "new@acme.io"))
        .await
        .unwrap();
    log_in(&h, &origin, "new@acme.io", "correct horse")
        .await
        .unwrap();
}
