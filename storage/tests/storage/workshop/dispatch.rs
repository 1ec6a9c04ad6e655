//! Boxes and dispatch end to end: sorting by branch, sealing, the
//! warehouse, a batch to a district, the signatures, the cards' statuses,
//! refusals in the wrong order, and the status history.

use cardhub_protocols::card_status::TransitionErrorKind;
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_storage::workshop::{BoxStatus, CENTRE_DISTRICT, DispatchStatus, TrackedEntity};

use super::*;

fn branch(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    code: &str,
    name: &str,
) -> Result<i64, StorageError> {
    Ok(branches::create(
        conn,
        hsm,
        &NewBranch {
            code: code.to_owned(),
            name: name.to_owned(),
            kind: BranchKind::Community,
        },
        &admin(),
    )?
    .id)
}

fn statuses(conn: &mut DbConnection, box_id: i64) -> Result<Vec<CardStatus>, StorageError> {
    let (_, cards, _) = workshop::get_box(conn, box_id)?;
    Ok(cards.into_iter().map(|c| c.status).collect())
}

#[test]
fn boxes_travel_from_the_workshop_to_the_branches() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let huangpu = branch(conn, hsm, "310101", "南京东路街道")?;
            let xuhui = branch(conn, hsm, "310104", "徐家汇街道")?;
            branches::set_district(conn, hsm, "310101", Some("黄浦区"), &admin())?;
            for (n, branch_id) in [
                (1, Some(huangpu)),
                (2, Some(xuhui)),
                (3, Some(huangpu)),
                (4, None),
                (5, Some(huangpu)),
            ] {
                prepared_card(conn, hsm, n, "resident-id", branch_id)?;
            }
            workshop::extract(
                conn,
                hsm,
                &Extraction {
                    kind: ExtractionKind::Normal,
                    limit: None,
                    max_attempts: 3,
                },
                &centre(),
            )?;
            let wang = operator("wang");
            let mut done = Vec::new();
            for _ in 0..5 {
                done.push(make_next_card(conn, hsm, "line-1", &wang)?);
            }
            let today = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
            let err = workshop::sort_into_boxes(conn, hsm, 0, today, &wang).expect_err("capacity");
            assert!(matches!(err, StorageError::Invalid { .. }), "{err}");

            let sorted = workshop::sort_into_boxes(conn, hsm, 2, today, &wang)?;
            let summary: Vec<(&str, BoxStatus, i32)> = sorted
                .iter()
                .map(|b| (b.box_number.as_str(), b.status, b.card_count))
                .collect();
            assert_eq!(
                summary,
                [
                    ("20261201-CENTRE-001", BoxStatus::Packing, 1),
                    ("20261201-310101-001", BoxStatus::Sealed, 2),
                    ("20261201-310101-002", BoxStatus::Packing, 1),
                    ("20261201-310104-001", BoxStatus::Packing, 1),
                ]
            );
            let [centre_box, full, part, xuhui_box] = [0, 1, 2, 3].map(|i| sorted[i].id);
            assert_eq!(sorted[0].branch_id, None);
            assert_eq!(sorted[1].branch_id, Some(huangpu));
            assert_eq!(sorted[3].branch_id, Some(xuhui));
            assert!(
                workshop::sort_into_boxes(conn, hsm, 2, today, &wang)?.is_empty(),
                "all boxed"
            );
            let (_, in_full, _) = workshop::get_box(conn, full)?;
            assert_eq!(
                in_full.iter().map(|c| c.id).collect::<Vec<_>>(),
                [done[0].card_id, done[2].card_id],
                "packing order"
            );
            let envelope = workshop::envelope_data(conn, hsm, done[4].card_id)?;
            assert_eq!(envelope.box_number.as_deref(), Some("20261201-310101-002"));

            // Wrong order is refused with the status and what is needed.
            let err = workshop::warehouse_in(conn, hsm, part, &wang).expect_err("not sealed");
            assert!(
                err.to_string().contains("packing") && err.to_string().contains("seal"),
                "{err}"
            );
            let err = workshop::create_dispatch(conn, hsm, "黄浦区", &[full, part], today, &wang)
                .expect_err("a box is packing");
            assert!(err.to_string().contains("in-warehouse"), "{err}");
            for b in [part, xuhui_box, centre_box] {
                workshop::seal_box(conn, hsm, b, &wang)?;
            }
            for b in [full, part, xuhui_box, centre_box] {
                assert_eq!(
                    workshop::warehouse_in(conn, hsm, b, &wang)?.status,
                    BoxStatus::InWarehouse
                );
            }
            let err =
                workshop::create_dispatch(conn, hsm, "黄浦区", &[full, xuhui_box], today, &wang)
                    .expect_err("a box of a branch without a district");
            assert!(err.to_string().contains("no district"), "{err}");
            branches::set_district(conn, hsm, "310104", Some("徐汇区"), &admin())?;
            let err =
                workshop::create_dispatch(conn, hsm, "黄浦区", &[full, xuhui_box], today, &wang)
                    .expect_err("a box of another district");
            assert!(err.to_string().contains("徐汇区"), "{err}");

            let batch =
                workshop::create_dispatch(conn, hsm, "黄浦区", &[full, part], today, &wang)?;
            assert_eq!(batch.batch_number, "20261201-黄浦区-001");
            assert_eq!(batch.status, DispatchStatus::Created);
            let err = workshop::create_dispatch(conn, hsm, "黄浦区", &[part], today, &wang)
                .expect_err("already in a batch");
            assert!(err.to_string().contains("already"), "{err}");
            let err = workshop::district_sign_off(conn, hsm, batch.id, &wang)
                .expect_err("not dispatched");
            assert!(
                err.to_string().contains("created") && err.to_string().contains("dispatched"),
                "{err}"
            );

            let sent = workshop::dispatch(conn, hsm, batch.id, &wang)?;
            assert_eq!(sent.status, DispatchStatus::Dispatched);
            assert_eq!(statuses(conn, full)?, [CardStatus::Mailed; 2]);
            assert_eq!(statuses(conn, part)?, [CardStatus::Mailed]);
            assert_eq!(
                statuses(conn, xuhui_box)?,
                [CardStatus::QcPassed],
                "not in the batch"
            );
            assert!(
                workshop::dispatch(conn, hsm, batch.id, &wang).is_err(),
                "dispatched once"
            );
            let err =
                workshop::branch_sign_off(conn, hsm, full, &actor("desk-1", Role::BranchOperator))
                    .expect_err("the district signs first");
            assert!(err.to_string().contains("district-signed"), "{err}");

            workshop::district_sign_off(
                conn,
                hsm,
                batch.id,
                &actor("hp-district", Role::CentreStaff),
            )?;
            let before = traces(conn)?;
            let err = workshop::branch_sign_off(conn, hsm, full, &wang)
                .expect_err("the status machine wants a branch operator");
            assert!(
                matches!(&err, StorageError::Transition(t) if t.kind == TransitionErrorKind::RoleNotPermitted),
                "{err}"
            );
            assert_eq!(traces(conn)?, before, "a refused sign-off writes nothing");
            let desk = actor("desk-1", Role::BranchOperator);
            let signed = workshop::branch_sign_off(conn, hsm, full, &desk)?;
            assert_eq!(signed.status, BoxStatus::BranchSigned);
            assert_eq!(statuses(conn, full)?, [CardStatus::AtBranch; 2]);
            let (still, _, _) = workshop::get_dispatch(conn, batch.id)?;
            assert_eq!(
                still.status,
                DispatchStatus::DistrictSigned,
                "one box to go"
            );
            workshop::branch_sign_off(conn, hsm, part, &desk)?;
            let (finished, boxes, history) = workshop::get_dispatch(conn, batch.id)?;
            assert_eq!(finished.status, DispatchStatus::Completed);
            assert!(boxes.iter().all(|b| b.status == BoxStatus::BranchSigned));
            let steps: Vec<(Option<&str>, &str, &str)> = history
                .iter()
                .map(|h| (h.from.as_deref(), h.to.as_str(), h.actor.as_str()))
                .collect();
            assert_eq!(
                steps,
                [
                    (None, "created", "wang"),
                    (Some("created"), "dispatched", "wang"),
                    (Some("dispatched"), "district-signed", "hp-district"),
                    (Some("district-signed"), "completed", "desk-1"),
                ]
            );
            let (_, _, box_history) = workshop::get_box(conn, full)?;
            assert!(
                box_history
                    .iter()
                    .all(|h| h.entity == TrackedEntity::Box && h.entity_id == full)
            );
            let path: Vec<&str> = box_history.iter().map(|h| h.to.as_str()).collect();
            assert_eq!(
                path,
                [
                    "packing",
                    "sealed",
                    "in-warehouse",
                    "dispatched",
                    "district-signed",
                    "branch-signed"
                ]
            );
            assert_eq!(box_history[5].role, Role::BranchOperator);
            let card_history = cards::card_history(conn, done[0].card_id)?;
            let tail: Vec<CardStatus> = card_history.iter().rev().take(2).map(|h| h.to).collect();
            assert_eq!(tail, [CardStatus::AtBranch, CardStatus::Mailed]);

            // The centre's own box goes in a batch to the centre.
            let centre_batch =
                workshop::create_dispatch(conn, hsm, CENTRE_DISTRICT, &[centre_box], today, &wang)?;
            workshop::dispatch(conn, hsm, centre_batch.id, &wang)?;
            assert_eq!(statuses(conn, centre_box)?, [CardStatus::Mailed]);
            assert_eq!(
                workshop::list_boxes(conn, Some(BoxStatus::BranchSigned), 10)?
                    .iter()
                    .map(|b| b.id)
                    .collect::<Vec<_>>(),
                [part, full],
                "newest first"
            );
            let actions = audit_actions(conn)?;
            for action in [
                "box.open",
                "box.pack",
                "box.seal",
                "box.warehouse-in",
                "dispatch.create",
                "box.dispatch",
                "dispatch.dispatch",
                "dispatch.district-sign",
                "box.branch-sign",
                "dispatch.complete",
            ] {
                assert!(actions.iter().any(|a| a == action), "{action} audited");
            }
            assert_audit_intact(conn, hsm)
        });
    });
}
