//! The session's rules driven with containers and instants: transaction
//! ids, what is refused, following the camera, timeouts.

use super::*;

fn at(ms: u64) -> Instant {
    // Instants are opaque: count from one taken once per test.
    thread_local!(static ZERO: Instant = Instant::now());
    ZERO.with(|zero| *zero + Duration::from_millis(ms))
}

fn ok(transaction_id: u32) -> Container {
    Container::response(ResponseCode::Ok, transaction_id, [])
}

fn done(progress: Result<Progress, SessionError>) -> Completed {
    match progress {
        Ok(Progress::Done(completed)) => completed,
        other => panic!("expected a completed transaction, got {other:?}"),
    }
}

fn opened() -> Session {
    let mut s = Session::new();
    let id = NonZeroU32::new(7).expect("not zero");
    s.open(id, at(0)).expect("closed and idle");
    done(s.receive(ok(0), at(1)));
    s
}

#[test]
fn ptp_session_counts_transactions_from_one_after_open_session() {
    let mut s = Session::new();
    let info = s
        .command(OperationCode::GetDeviceInfo, &[], at(0))
        .expect("allowed outside a session");
    assert_eq!(info.transaction_id(), 0);
    s.receive(
        Container::Data {
            code: OperationCode::GetDeviceInfo,
            transaction_id: 0,
            data: vec![1, 2],
        },
        at(1),
    )
    .expect("its data");
    let completed = done(s.receive(ok(0), at(5)));
    assert_eq!(completed.data, Some(vec![1, 2]));
    assert_eq!(completed.elapsed, Duration::from_millis(5));

    let open = s
        .open(NonZeroU32::new(7).expect("not zero"), at(10))
        .expect("closed");
    assert_eq!(
        open.to_bytes(),
        [16, 0, 0, 0, 1, 0, 2, 0x10, 0, 0, 0, 0, 7, 0, 0, 0]
    );
    done(s.receive(ok(0), at(11)));
    assert_eq!(
        s.state(),
        SessionState::Open {
            session_id: NonZeroU32::new(7).expect("not zero")
        }
    );
    for expected in 1..=3 {
        let c = s
            .command(OperationCode::InitiateCapture, &[0, 0], at(20))
            .expect("open and idle");
        assert_eq!(c.transaction_id(), expected);
        done(s.receive(ok(expected), at(21)));
    }
    let close = s.close(at(30)).expect("open");
    assert_eq!(close.transaction_id(), 4);
    done(s.receive(ok(4), at(31)));
    assert_eq!(s.state(), SessionState::Closed);
}

#[test]
fn ptp_session_refuses_what_does_not_fit() {
    let mut s = Session::new();
    assert_eq!(
        s.command(OperationCode::GetObject, &[1], at(0)),
        Err(SessionError::NotOpen {
            operation: OperationCode::GetObject
        })
    );
    assert!(matches!(
        s.command(OperationCode::GetObject, &[0; 6], at(0)),
        Err(SessionError::Params(_))
    ));
    assert_eq!(
        s.receive(ok(0), at(0)),
        Err(SessionError::NothingOutstanding {
            kind: ContainerKind::Response,
            transaction_id: 0
        })
    );

    let mut s = opened();
    assert_eq!(
        s.open(NonZeroU32::MIN, at(2)),
        Err(SessionError::AlreadyOpen {
            session_id: NonZeroU32::new(7).expect("not zero")
        })
    );
    assert_eq!(
        s.command(OperationCode::OpenSession, &[1], at(2)),
        Err(SessionError::SessionOperation {
            operation: OperationCode::OpenSession
        })
    );
    s.command(OperationCode::DeleteObject, &[5, 0], at(2))
        .expect("open and idle");
    assert_eq!(
        s.command(OperationCode::GetObject, &[5], at(3)),
        Err(SessionError::Busy {
            outstanding: OperationCode::DeleteObject,
            transaction_id: 1
        })
    );
    let data = |code, transaction_id| Container::Data {
        code,
        transaction_id,
        data: vec![0],
    };
    assert!(matches!(
        s.receive(data(OperationCode::DeleteObject, 1), at(3)),
        Err(SessionError::UnexpectedData { .. })
    ));
    assert!(matches!(
        s.receive(ok(2), at(3)),
        Err(SessionError::WrongTransaction {
            expected: 1,
            received: 2,
            ..
        })
    ));
    assert!(matches!(
        s.receive(Container::command(OperationCode::GetObject, 1, []), at(3)),
        Err(SessionError::NotAnAnswer {
            kind: ContainerKind::Command
        })
    ));
    done(s.receive(ok(1), at(4)));

    s.command(OperationCode::GetObject, &[5], at(5))
        .expect("idle");
    assert!(matches!(
        s.receive(data(OperationCode::GetObjectInfo, 2), at(5)),
        Err(SessionError::UnexpectedData {
            reason: "its code is another operation's",
            ..
        })
    ));
    s.receive(data(OperationCode::GetObject, 2), at(5))
        .expect("the data phase");
    assert!(matches!(
        s.receive(data(OperationCode::GetObject, 2), at(5)),
        Err(SessionError::UnexpectedData {
            reason: "a second data phase",
            ..
        })
    ));
}

#[test]
fn ptp_session_follows_the_camera() {
    let mut s = opened();
    s.command(OperationCode::GetObjectHandles, &[0xFFFF_FFFF], at(2))
        .expect("open");
    let answer = done(s.receive(
        Container::response(ResponseCode::SessionNotOpen, 1, []),
        at(3),
    ));
    assert_eq!(answer.response, ResponseCode::SessionNotOpen);
    assert!(!s.is_open());

    s.open(NonZeroU32::new(3).expect("not zero"), at(4))
        .expect("closed");
    let already = Container::response(ResponseCode::SessionAlreadyOpened, 0, [9]);
    done(s.receive(already, at(5)));
    assert_eq!(
        s.state(),
        SessionState::Open {
            session_id: NonZeroU32::new(9).expect("not zero")
        }
    );
    assert_eq!(s.close(at(6)).expect("open").transaction_id(), 1);
}

#[test]
fn ptp_session_times_out_on_the_time_given() {
    let mut s = opened();
    s.command(OperationCode::InitiateCapture, &[0, 0], at(100))
        .expect("open");
    assert_eq!(s.deadline(Duration::from_millis(50)), Some(at(150)));
    assert_eq!(s.check_timeout(at(150), Duration::from_millis(50)), Ok(()));
    assert_eq!(
        s.check_timeout(at(151), Duration::from_millis(50)),
        Err(SessionError::TimedOut {
            operation: OperationCode::InitiateCapture,
            transaction_id: 1,
            waited: Duration::from_millis(51)
        })
    );
    assert_eq!(s.outstanding(), None);
    assert!(matches!(
        s.receive(ok(1), at(200)),
        Err(SessionError::NothingOutstanding { .. })
    ));
    let next = s
        .command(OperationCode::GetStorageIDs, &[], at(201))
        .expect("idle again");
    assert_eq!(next.transaction_id(), 2);
    assert!(matches!(
        s.receive(ok(1), at(202)),
        Err(SessionError::WrongTransaction { .. })
    ));
    s.reset();
    assert_eq!(s.state(), SessionState::Closed);
    assert_eq!(s.outstanding(), None);
}

#[test]
fn ptp_session_sends_outgoing_data_after_its_command() {
    let mut s = opened();
    let [command, data] = s
        .command_with_data(
            OperationCode::SetDevicePropValue,
            &[0x5001],
            vec![1, 0],
            at(2),
        )
        .expect("open");
    assert_eq!(command.transaction_id(), 1);
    assert_eq!(data.kind(), ContainerKind::Data);
    assert_eq!(data.transaction_id(), 1);
    assert!(matches!(
        s.receive(
            Container::Data {
                code: OperationCode::SetDevicePropValue,
                transaction_id: 1,
                data: vec![]
            },
            at(3)
        ),
        Err(SessionError::UnexpectedData { .. })
    ));
    done(s.receive(ok(1), at(3)));
}

#[test]
fn ptp_transaction_ids_skip_zero_and_all_ones_on_wrap() {
    let mut s = opened();
    s.next_transaction = u32::MAX - 1;
    let c = s
        .command(OperationCode::GetStorageIDs, &[], at(2))
        .expect("open");
    assert_eq!(c.transaction_id(), u32::MAX - 1);
    done(s.receive(ok(u32::MAX - 1), at(3)));
    let c = s
        .command(OperationCode::GetStorageIDs, &[], at(4))
        .expect("open");
    assert_eq!(c.transaction_id(), 1);
}
