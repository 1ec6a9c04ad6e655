//! The simulated printer's state rules, driven with decoded commands and a
//! hand-moved clock: what each command does, what it is refused with in
//! each state, and what the simulator around the machine is told to do.

use std::time::{Duration, Instant};

use cardhub_protocols::printer::{
    CardPosition, Command, ErrorCode, Panel, PrinterInfo, PrinterState, Reply, Station,
    StatusReport,
};
use cardhub_simulators::printer::machine::{
    Effect, Exit, MachineConfig, MachineState, Place, PrinterMachine, Timing, chip_id,
};

fn face_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_image_data(&vec![0x40; (width * height * 3) as usize])
        .unwrap();
    writer.finish().unwrap();
    out
}

fn machine(timing: Timing, hopper: u32, ribbon: u32) -> PrinterMachine {
    PrinterMachine::new(
        MachineConfig {
            timing,
            chip_prefix: "31000086".into(),
            info: PrinterInfo {
                model: "test".into(),
                serial: "T-1".into(),
                firmware: "0".into(),
            },
        },
        MachineState::new(hopper, ribbon),
    )
}

/// Runs one command now and returns its reply.
fn run(m: &mut PrinterMachine, command: Command) -> Reply {
    m.handle(&command, Instant::now()).reply
}

fn refused(reply: &Reply) -> Option<ErrorCode> {
    match reply {
        Reply::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn status(m: &mut PrinterMachine) -> StatusReport {
    match run(m, Command::ReadStatus) {
        Reply::Value(v) => StatusReport::parse(&v).unwrap(),
        other => panic!("Rps answered {other:?}"),
    }
}

fn download(m: &mut PrinterMachine, panel: Panel, data: Vec<u8>) {
    assert_eq!(run(m, Command::DownloadPanel { panel, data }), Reply::Ok);
}

#[test]
fn a_card_goes_through_every_step_and_the_simulator_is_told_what_to_do() {
    let mut m = machine(Timing::zero(), 3, 10);
    let fed = m.handle(&Command::Insert, Instant::now());
    assert_eq!(fed.reply, Reply::Ok);
    assert_eq!(
        fed.effects,
        vec![Effect::CardFed {
            seq: 1,
            chip_id: "3100008600000001".into()
        }]
    );
    assert_eq!(m.card_position(), CardPosition::InPrinter);
    assert_eq!(run(&mut m, Command::MoveTo(Station::Contact)), Reply::Ok);
    assert_eq!(
        run(&mut m, Command::ReadCardPosition),
        Reply::Value("SMART".into())
    );
    assert_eq!(
        run(&mut m, Command::MoveTo(Station::Contactless)),
        Reply::Ok
    );
    assert_eq!(m.card_position(), CardPosition::Contactless);
    download(&mut m, Panel::Colour, face_png(1016, 648));
    let printed = m.handle(&Command::Print, Instant::now());
    assert_eq!(printed.reply, Reply::Ok);
    assert!(matches!(
        &printed.effects[..],
        [Effect::FacePrinted { seq: 1, png, .. }] if png.starts_with(b"\x89PNG")
    ));
    assert_eq!(
        m.card_position(),
        CardPosition::InPrinter,
        "printing brings the card to the head"
    );
    assert_eq!(m.panels().count(), 0, "panels are used up by printing");
    assert_eq!(run(&mut m, Command::Overlay), Reply::Ok);
    let out = m.handle(&Command::Eject, Instant::now());
    match &out.effects[..] {
        [
            Effect::CardOut {
                card,
                exit: Exit::Output,
            },
        ] => {
            assert!(card.printed && card.overlaid);
            assert_eq!(card.chip_id, "3100008600000001");
        }
        other => panic!("{other:?}"),
    }
    let s = status(&mut m);
    assert_eq!(s.state, PrinterState::Ready);
    assert_eq!(
        (s.hopper, s.ribbon_left, s.card),
        (Some(2), Some(9), CardPosition::None)
    );
    assert_eq!(
        run(&mut m, Command::ReadRibbonCount),
        Reply::Value("9".into())
    );
    let counters = m.state().counters;
    assert_eq!(
        (
            counters.fed,
            counters.printed,
            counters.overlaid,
            counters.ejected
        ),
        (1, 1, 1, 1)
    );
    // The next card has the next number and chip.
    let second = m.handle(&Command::Insert, Instant::now());
    assert!(matches!(
        &second.effects[..],
        [Effect::CardFed { seq: 2, chip_id }] if chip_id == "3100008600000002"
    ));
    assert_eq!(
        m.handle(&Command::Reject, Instant::now()).effects[..].len(),
        1
    );
}

#[test]
fn commands_that_need_a_card_are_refused_without_one() {
    let mut m = machine(Timing::zero(), 3, 10);
    for command in [
        Command::MoveTo(Station::Contact),
        Command::MoveTo(Station::Contactless),
        Command::Print,
        Command::Overlay,
        Command::Eject,
        Command::EjectToBezel,
        Command::Reject,
    ] {
        let reply = run(&mut m, command.clone());
        assert_eq!(refused(&reply), Some(ErrorCode::NoCard), "{command:?}");
    }
    assert_eq!(run(&mut m, Command::Insert), Reply::Ok);
    let again = run(&mut m, Command::Insert);
    assert_eq!(
        refused(&again),
        Some(ErrorCode::Busy),
        "a second card cannot be fed"
    );
    assert!(matches!(again, Reply::Error { text, .. } if text.contains("eject or reject")));
}

#[test]
fn only_a_card_sized_png_is_printed() {
    let mut m = machine(Timing::zero(), 3, 10);
    run(&mut m, Command::Insert);
    let nothing = run(&mut m, Command::Print);
    assert_eq!(refused(&nothing), Some(ErrorCode::BadData));
    download(&mut m, Panel::Colour, b"JFIF not a png".to_vec());
    let reply = run(&mut m, Command::Print);
    assert!(
        matches!(&reply, Reply::Error { code: ErrorCode::BadData, text } if text.contains("not a PNG")),
        "{reply:?}"
    );
    download(&mut m, Panel::Colour, face_png(640, 480));
    let reply = run(&mut m, Command::Print);
    assert!(
        matches!(&reply, Reply::Error { code: ErrorCode::BadData, text } if text.contains("640 x 480")),
        "{reply:?}"
    );
    assert_eq!(m.state().ribbon, 10, "a refused print uses no ribbon");
    // Ss forgets the panels; a good one then prints.
    assert_eq!(run(&mut m, Command::StartSequence), Reply::Ok);
    assert_eq!(m.panels().count(), 0);
    download(&mut m, Panel::Colour, face_png(1016, 648));
    download(&mut m, Panel::Overlay, face_png(1016, 648));
    assert_eq!(run(&mut m, Command::Print), Reply::Ok);
}

#[test]
fn a_jam_refuses_everything_but_status_and_clear_until_an_operator_acts() {
    let mut m = machine(Timing::zero(), 3, 10);
    run(&mut m, Command::Insert);
    run(&mut m, Command::MoveTo(Station::Contact));
    m.jam();
    for command in [
        Command::MoveTo(Station::Contactless),
        Command::Eject,
        Command::ReadCardPosition,
        Command::ReadInfo,
        Command::SetRibbon(cardhub_protocols::printer::RibbonType::ko()),
    ] {
        let reply = run(&mut m, command.clone());
        assert!(
            matches!(&reply, Reply::Error { code: ErrorCode::CardJam, text } if text.contains("open the cover and remove the card")),
            "{command:?}: {reply:?}"
        );
    }
    assert_eq!(status(&mut m).state, PrinterState::CardJam);
    assert_eq!(status(&mut m).card, CardPosition::Contact);
    assert_eq!(
        refused(&run(&mut m, Command::ClearError)),
        Some(ErrorCode::CardJam),
        "Scl cannot clear a jam nobody removed"
    );
    let effects = m.operator_clear();
    assert!(matches!(
        &effects[..],
        [Effect::CardOut { exit: Exit::Removed, card }] if card.seq == 1
    ));
    assert_eq!(
        status(&mut m).state,
        PrinterState::CardJam,
        "latched until Scl"
    );
    assert_eq!(run(&mut m, Command::ClearError), Reply::Ok);
    let s = status(&mut m);
    assert_eq!((s.state, s.card), (PrinterState::Ready, CardPosition::None));
    assert_eq!(m.state().counters.removed, 1);
    assert_eq!(
        run(&mut m, Command::ClearError),
        Reply::Ok,
        "Scl with nothing to clear"
    );
}

#[test]
fn an_open_cover_stops_the_printer_until_it_is_closed() {
    let mut m = machine(Timing::zero(), 3, 10);
    m.open_cover();
    assert_eq!(
        refused(&run(&mut m, Command::Insert)),
        Some(ErrorCode::CoverOpen)
    );
    assert_eq!(
        refused(&run(&mut m, Command::ClearError)),
        Some(ErrorCode::CoverOpen)
    );
    assert_eq!(status(&mut m).state, PrinterState::CoverOpen);
    m.close_cover();
    assert_eq!(status(&mut m).state, PrinterState::Ready);
    assert_eq!(run(&mut m, Command::Insert), Reply::Ok);
}

#[test]
fn an_empty_hopper_latches_on_feed_and_a_refill_resolves_it() {
    let mut m = machine(Timing::zero(), 1, 10);
    run(&mut m, Command::Insert);
    run(&mut m, Command::Eject);
    assert_eq!(
        refused(&run(&mut m, Command::Insert)),
        Some(ErrorCode::HopperEmpty)
    );
    assert_eq!(status(&mut m).state, PrinterState::HopperEmpty);
    assert_eq!(
        refused(&run(&mut m, Command::ClearError)),
        Some(ErrorCode::HopperEmpty)
    );
    m.refill(Some(5), None);
    assert_eq!(run(&mut m, Command::ClearError), Reply::Ok);
    assert_eq!(run(&mut m, Command::Insert), Reply::Ok);
    assert_eq!(m.state().hopper, 4);
    m.hopper_empty();
    assert_eq!(m.state().hopper, 0);
}

#[test]
fn a_spent_ribbon_latches_on_print() {
    let mut m = machine(Timing::zero(), 3, 10);
    run(&mut m, Command::Insert);
    m.ribbon_out();
    download(&mut m, Panel::Colour, face_png(1016, 648));
    assert_eq!(
        refused(&run(&mut m, Command::Print)),
        Some(ErrorCode::RibbonOut)
    );
    assert_eq!(status(&mut m).state, PrinterState::RibbonOut);
    m.refill(None, Some(3));
    assert_eq!(run(&mut m, Command::ClearError), Reply::Ok);
    download(&mut m, Panel::Colour, face_png(1016, 648));
    assert_eq!(run(&mut m, Command::Print), Reply::Ok);
    assert_eq!(m.state().ribbon, 2);
}

#[test]
fn a_step_keeps_the_printer_busy_for_its_time() {
    let timing = Timing::realistic();
    let mut m = machine(timing, 3, 10);
    let start = Instant::now();
    let fed = m.handle(&Command::Insert, start);
    assert_eq!(fed.duration, Duration::from_millis(timing.feed_ms));
    let during = start + Duration::from_millis(timing.feed_ms / 2);
    assert_eq!(m.status(during).state, PrinterState::Printing);
    let busy = m.handle(&Command::MoveTo(Station::Contact), during);
    assert_eq!(refused(&busy.reply), Some(ErrorCode::Busy));
    assert_eq!(
        m.handle(&Command::ReadCardPosition, during).reply,
        Reply::Value("CARD".into()),
        "queries answer while busy"
    );
    let after = start + Duration::from_millis(timing.feed_ms);
    let moved = m.handle(&Command::MoveTo(Station::Contact), after);
    assert_eq!(moved.reply, Reply::Ok);
    assert_eq!(moved.duration, Duration::from_millis(timing.move_ms));
    let total =
        timing.feed_ms + 2 * timing.move_ms + timing.print_ms + timing.overlay_ms + timing.eject_ms;
    assert!(
        (20_000..=30_000).contains(&total),
        "a colour card with overlay takes 20-30 s, not {total} ms"
    );
}

#[test]
fn moving_counts_stays_at_stations_and_a_second_move_there_is_free() {
    let mut m = machine(Timing::realistic(), 3, 10);
    let now = Instant::now();
    m.handle(&Command::Insert, now);
    let later = now + Duration::from_secs(10);
    m.handle(&Command::MoveTo(Station::Contact), later);
    let moves = m.state().card.as_ref().unwrap().moves;
    let again = m.handle(
        &Command::MoveTo(Station::Contact),
        later + Duration::from_secs(10),
    );
    assert_eq!((again.reply, again.duration), (Reply::Ok, Duration::ZERO));
    assert_eq!(m.state().card.as_ref().unwrap().moves, moves);
    assert_eq!(m.state().card.as_ref().unwrap().place, Place::Contact);
}

#[test]
fn chip_ids_are_the_prefix_and_a_counter_filling_sixteen_digits() {
    assert_eq!(chip_id("31000086", 42).as_deref(), Some("3100008600000042"));
    assert_eq!(chip_id("", 7).as_deref(), Some("0000000000000007"));
    assert_eq!(
        chip_id("ABCDEF0123456", 999).as_deref(),
        Some("ABCDEF0123456999")
    );
    assert_eq!(chip_id("ABCDEF0123456", 1000), None);
    let mut m = PrinterMachine::new(
        MachineConfig {
            timing: Timing::zero(),
            chip_prefix: "ABCDEF012345678".into(),
            info: PrinterInfo {
                model: "m".into(),
                serial: "s".into(),
                firmware: "f".into(),
            },
        },
        MachineState {
            next_chip: 10,
            ..MachineState::new(5, 5)
        },
    );
    let reply = run(&mut m, Command::Insert);
    assert!(matches!(&reply, Reply::Error { text, .. } if text.contains("chip prefix")));
    assert_eq!(m.state().hopper, 5, "no card was taken");
}
