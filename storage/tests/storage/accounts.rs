//! Operators, lock-out, sessions and API tokens.

use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_storage::operators::{self, LockoutPolicy, NewOperator};
use cardhub_storage::{sessions, tokens, utc_now};
use chrono::TimeDelta;

use super::*;

fn new_operator(username: &str, branch_code: Option<&str>) -> NewOperator {
    NewOperator {
        username: username.to_owned(),
        display_name: "王经办".to_owned(),
        role: Role::BranchOperator,
        branch_code: branch_code.map(str::to_owned),
        password_hash: "$pbkdf2-sm3$i=10000$c2FsdA$aGFzaA".to_owned(),
    }
}

fn huangpu(
    conn: &mut DbConnection,
    hsm: &dyn cardhub_protocols::crypto::Hsm,
) -> Result<(), StorageError> {
    let branch = NewBranch {
        code: "310101".into(),
        name: "黄浦区社区事务受理中心".into(),
        kind: BranchKind::Community,
    };
    branches::create(conn, hsm, &branch, &admin())?;
    Ok(())
}

#[test]
fn operators_are_created_found_listed_and_unique() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            huangpu(conn, hsm.as_ref())?;
            let op = operators::create(
                conn,
                hsm.as_ref(),
                &new_operator("wang", Some("310101")),
                &admin(),
            )?;
            assert_eq!(op.branch_code.as_deref(), Some("310101"));
            assert!(op.active);
            assert_eq!(op.role, Role::BranchOperator);
            operators::create(conn, hsm.as_ref(), &new_operator("chen", None), &admin())?;

            let found = operators::find_by_username(conn, "wang")?.expect("found");
            assert_eq!(found, op);
            assert!(operators::find_by_username(conn, "nobody")?.is_none());
            let names: Vec<String> = operators::list(conn)?
                .into_iter()
                .map(|o| o.username)
                .collect();
            assert_eq!(names, vec!["chen", "wang"]);

            let dup = operators::create(conn, hsm.as_ref(), &new_operator("wang", None), &admin())
                .expect_err("taken");
            assert!(matches!(dup, StorageError::Conflict { .. }), "{dup}");
            let bad_branch = operators::create(
                conn,
                hsm.as_ref(),
                &new_operator("li", Some("999999")),
                &admin(),
            )
            .expect_err("unknown branch");
            assert!(
                matches!(bad_branch, StorageError::NotFound { what: "branch", .. }),
                "{bad_branch}"
            );

            operators::set_password(conn, hsm.as_ref(), "wang", "$new$hash", &admin())?;
            assert_eq!(
                operators::find_by_username(conn, "wang")?
                    .expect("found")
                    .password_hash,
                "$new$hash"
            );
            assert!(
                format!("{op:?}").find("pbkdf2").is_none(),
                "hash kept out of Debug"
            );
            Ok(())
        });
    });
}

#[test]
fn repeated_login_failures_lock_the_account_and_success_resets() {
    let policy = LockoutPolicy {
        threshold: 3,
        lock_for: TimeDelta::minutes(15),
    };
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let op = operators::create(conn, hsm.as_ref(), &new_operator("wang", None), &admin())?;
            let now = utc_now();
            let once = operators::record_login_failure(conn, hsm.as_ref(), op.id, now, policy)?;
            assert_eq!(once.failed_logins, 1);
            assert!(!once.is_locked(now));
            operators::record_login_failure(conn, hsm.as_ref(), op.id, now, policy)?;
            let locked = operators::record_login_failure(conn, hsm.as_ref(), op.id, now, policy)?;
            assert!(locked.is_locked(now), "third failure locks");
            assert!(locked.is_locked(now + TimeDelta::minutes(14)));
            assert!(
                !locked.is_locked(now + TimeDelta::minutes(16)),
                "the lock expires"
            );
            assert_eq!(locked.locked_until, Some(now + TimeDelta::minutes(15)));

            let back = operators::record_login_success(
                conn,
                hsm.as_ref(),
                op.id,
                now + TimeDelta::minutes(16),
            )?;
            assert_eq!(back.failed_logins, 0);
            assert_eq!(back.locked_until, None);
            assert_eq!(back.last_login_at, Some(now + TimeDelta::minutes(16)));

            let actions: Vec<String> = cardhub_storage::audit::list(conn, 0, 100)?
                .into_iter()
                .map(|r| r.action)
                .collect();
            assert!(
                actions.contains(&"operator.locked".to_owned()),
                "{actions:?}"
            );
            assert!(cardhub_storage::audit::verify(conn, hsm.as_ref())?.is_intact());
            Ok(())
        });
    });
}

#[test]
fn sessions_live_until_expiry_revocation_or_deactivation() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let op = operators::create(conn, hsm.as_ref(), &new_operator("wang", None), &admin())?;
            let now = utc_now();
            let digest = tokens::token_digest(hsm.as_ref(), "session-token-1")?;
            let session = sessions::create_session(
                conn,
                hsm.as_ref(),
                op.id,
                &digest,
                now + TimeDelta::hours(8),
            )?;

            let (found, who) = sessions::find_session(conn, &digest, now)?.expect("live session");
            assert_eq!(found, session);
            assert_eq!(who.username, "wang");
            assert!(
                sessions::find_session(conn, &digest, now + TimeDelta::hours(8))?.is_none(),
                "expired"
            );
            let wrong = tokens::token_digest(hsm.as_ref(), "session-token-2")?;
            assert!(sessions::find_session(conn, &wrong, now)?.is_none());

            assert!(sessions::revoke_session(conn, hsm.as_ref(), &digest)?);
            assert!(
                sessions::find_session(conn, &digest, now)?.is_none(),
                "revoked"
            );
            assert!(
                !sessions::revoke_session(conn, hsm.as_ref(), &digest)?,
                "second logout is a no-op"
            );

            let other = tokens::token_digest(hsm.as_ref(), "session-token-3")?;
            sessions::create_session(conn, hsm.as_ref(), op.id, &other, now + TimeDelta::hours(8))?;
            let gone = operators::deactivate(conn, hsm.as_ref(), "wang", &admin())?;
            assert!(!gone.active);
            assert!(
                sessions::find_session(conn, &other, now)?.is_none(),
                "deactivation ends sessions"
            );
            Ok(())
        });
    });
}

#[test]
fn api_tokens_are_found_by_digest_until_revoked() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let digest = tokens::token_digest(hsm.as_ref(), "ch_secret_bank")?;
            assert_eq!(
                digest,
                tokens::token_digest(hsm.as_ref(), "ch_secret_bank")?,
                "digest is stable"
            );
            assert_ne!(
                digest,
                tokens::token_digest(hsm.as_ref(), "ch_secret_bank2")?
            );
            let token = tokens::create(
                conn,
                hsm.as_ref(),
                "bank-icbc",
                Role::OutsideSystem,
                &digest,
                &admin(),
            )?;
            assert_eq!(token.last_used_at, None);

            let now = utc_now();
            let used = tokens::find_active_by_digest(conn, &digest, now)?.expect("active");
            assert_eq!(used.name, "bank-icbc");
            assert_eq!(used.role, Role::OutsideSystem);
            assert_eq!(used.last_used_at, Some(now));
            let listed = tokens::list(conn)?;
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].last_used_at, Some(now), "use is recorded");

            let dup = tokens::create(
                conn,
                hsm.as_ref(),
                "bank-icbc",
                Role::Screen,
                b"other",
                &admin(),
            )
            .expect_err("name taken");
            assert!(matches!(dup, StorageError::Conflict { .. }), "{dup}");

            let revoked = tokens::revoke(conn, hsm.as_ref(), "bank-icbc", &admin())?;
            assert!(revoked.revoked_at.is_some());
            assert!(
                tokens::find_active_by_digest(conn, &digest, now)?.is_none(),
                "revoked token refused"
            );
            let again = tokens::revoke(conn, hsm.as_ref(), "bank-icbc", &admin())?;
            assert_eq!(
                again.revoked_at, revoked.revoked_at,
                "revoking twice changes nothing"
            );
            let missing =
                tokens::revoke(conn, hsm.as_ref(), "nope", &admin()).expect_err("unknown");
            assert!(
                matches!(missing, StorageError::NotFound { .. }),
                "{missing}"
            );

            let actions: Vec<String> = cardhub_storage::audit::list(conn, 0, 100)?
                .into_iter()
                .map(|r| r.action)
                .collect();
            assert_eq!(actions, vec!["token.create", "token.revoke"]);
            Ok(())
        });
    });
}
