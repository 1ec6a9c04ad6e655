//! A line's program: which steps every card goes through, in order. The
//! four programs the centre runs are four configurations of one pipeline
//! (feed → chip → contactless → print → overlay → qc → eject):
//!
//! | program | steps |
//! | --- | --- |
//! | `full` | all seven |
//! | `no-contactless` | without the contactless check |
//! | `no-overlay` | without the thick overlay |
//! | `basic` | without both |
//!
//! A line may also list its steps itself; they must keep the pipeline's
//! order and hold feed, chip, print, qc and eject.
//!
//! [`resume_point`] decides where a card found in production after a restart
//! or a lost link goes on, from the last step persisted for it.

use std::fmt;
use std::str::FromStr;

use cardhub_protocols::card_status::CardStatus;
use cardhub_storage::workshop::{BEGUN_SUFFIX, STEP_CLAIMED};
use serde::{Deserialize, Serialize};

/// One step of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Take a blank card from the hopper.
    Feed,
    /// Format and personalise the chip at the contact station.
    Chip,
    /// Read the chip at the contactless station.
    Contactless,
    /// Print the card face.
    Print,
    /// Apply the thick overlay film.
    Overlay,
    /// Read the chip back and compare it with the database (card check).
    Qc,
    /// Eject the card to the output hopper.
    Eject,
}

impl Step {
    /// The pipeline, in order.
    pub const ALL: [Step; 7] = [
        Step::Feed,
        Step::Chip,
        Step::Contactless,
        Step::Print,
        Step::Overlay,
        Step::Qc,
        Step::Eject,
    ];

    /// The step's name in storage, config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Feed => "feed",
            Step::Chip => "chip",
            Step::Contactless => "contactless",
            Step::Print => "print",
            Step::Overlay => "overlay",
            Step::Qc => "qc",
            Step::Eject => "eject",
        }
    }

    /// Whether running the step twice on one card spoils it: a card that
    /// may have been printed or overlaid once must not be again.
    pub fn is_once_only(self) -> bool {
        matches!(self, Step::Print | Step::Overlay)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = ProgramError;

    fn from_str(s: &str) -> Result<Self, ProgramError> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| ProgramError::UnknownStep(s.to_owned()))
    }
}

/// Why a program cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// Not a step of the pipeline.
    #[error(
        "`{0}` is not a step: use feed, chip, contactless, print, overlay, qc and eject, in that order"
    )]
    UnknownStep(String),
    /// Not one of the four programs.
    #[error(
        "`{0}` is not a program: use full, no-contactless, no-overlay or basic, or list the steps"
    )]
    UnknownProgram(String),
    /// A step the pipeline cannot do without.
    #[error("the steps lack `{0}`: every card is fed, personalised, printed, checked and ejected")]
    Missing(Step),
    /// Out of the pipeline's order, or twice.
    #[error(
        "`{0}` is out of order or listed twice: keep feed, chip, contactless, print, overlay, qc, eject"
    )]
    OutOfOrder(Step),
}

/// The ordered steps of a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Program {
    /// Its name (`full`, ... or `custom`).
    pub name: String,
    /// The steps, in the pipeline's order.
    pub steps: Vec<Step>,
}

impl Program {
    /// One of the four programs by name.
    pub fn named(name: &str) -> Result<Program, ProgramError> {
        let without: &[Step] = match name {
            "full" => &[],
            "no-contactless" => &[Step::Contactless],
            "no-overlay" => &[Step::Overlay],
            "basic" => &[Step::Contactless, Step::Overlay],
            other => return Err(ProgramError::UnknownProgram(other.to_owned())),
        };
        Ok(Program {
            name: name.to_owned(),
            steps: Step::ALL
                .into_iter()
                .filter(|s| !without.contains(s))
                .collect(),
        })
    }

    /// A program from a list of steps, checked.
    pub fn custom(steps: &[Step]) -> Result<Program, ProgramError> {
        for pair in steps.windows(2) {
            if pair[0] >= pair[1] {
                return Err(ProgramError::OutOfOrder(pair[1]));
            }
        }
        for needed in [Step::Feed, Step::Chip, Step::Print, Step::Qc, Step::Eject] {
            if !steps.contains(&needed) {
                return Err(ProgramError::Missing(needed));
            }
        }
        Ok(Program {
            name: "custom".to_owned(),
            steps: steps.to_vec(),
        })
    }

    /// The status the card reaches when `step` is done, if it moves: the
    /// last of print and overlay makes it `produced`, qc `qc-passed`.
    pub fn card_to(&self, step: Step) -> Option<CardStatus> {
        let last_face_step = if self.steps.contains(&Step::Overlay) {
            Step::Overlay
        } else {
            Step::Print
        };
        match step {
            s if s == last_face_step => Some(CardStatus::Produced),
            Step::Qc => Some(CardStatus::QcPassed),
            _ => None,
        }
    }

    /// The step after `step`, `None` after the last.
    pub fn next(&self, step: Step) -> Option<Step> {
        let at = self.steps.iter().position(|s| *s == step)?;
        self.steps.get(at + 1).copied()
    }
}

/// Where a card in production goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Run the program from this step on (`None`: every step is done,
    /// only completion is left).
    From(Option<Step>),
    /// The step was begun and may have been half done: if the card is
    /// still in the printer, run it only if it is not once-only.
    Begun(Step),
}

/// Where a card whose last persisted step is `last` (the task's `step`
/// column) goes on in `program`.
pub fn resume_point(program: &Program, last: Option<&str>) -> Result<Resume, ProgramError> {
    let Some(last) = last else {
        return Ok(Resume::Begun(program.steps[0]));
    };
    if last == STEP_CLAIMED {
        return Ok(Resume::Begun(program.steps[0]));
    }
    if let Some(begun) = last.strip_suffix(BEGUN_SUFFIX) {
        return Ok(Resume::Begun(begun.parse()?));
    }
    let done: Step = last.parse()?;
    // A step of another program (the line's program was changed while the
    // card was on it): go on from the next step this program has.
    Ok(Resume::From(
        program.steps.iter().copied().find(|s| *s > done),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_programs() {
        let names = |p: &str| -> Vec<&str> {
            Program::named(p)
                .unwrap()
                .steps
                .iter()
                .map(|s| s.as_str())
                .collect()
        };
        assert_eq!(
            names("full"),
            [
                "feed",
                "chip",
                "contactless",
                "print",
                "overlay",
                "qc",
                "eject"
            ]
        );
        assert_eq!(
            names("no-contactless"),
            ["feed", "chip", "print", "overlay", "qc", "eject"]
        );
        assert_eq!(
            names("no-overlay"),
            ["feed", "chip", "contactless", "print", "qc", "eject"]
        );
        assert_eq!(names("basic"), ["feed", "chip", "print", "qc", "eject"]);
        assert!(matches!(
            Program::named("fast"),
            Err(ProgramError::UnknownProgram(_))
        ));
    }

    #[test]
    fn custom_programs_keep_the_order_and_the_needed_steps() {
        use Step::*;
        assert!(Program::custom(&[Feed, Chip, Print, Qc, Eject]).is_ok());
        assert_eq!(
            Program::custom(&[Feed, Print, Chip, Qc, Eject]),
            Err(ProgramError::OutOfOrder(Chip))
        );
        assert_eq!(
            Program::custom(&[Feed, Chip, Chip, Print, Qc, Eject]),
            Err(ProgramError::OutOfOrder(Chip))
        );
        assert_eq!(
            Program::custom(&[Feed, Chip, Print, Eject]),
            Err(ProgramError::Missing(Qc))
        );
    }

    #[test]
    fn the_card_is_produced_after_the_last_face_step() {
        let full = Program::named("full").unwrap();
        assert_eq!(full.card_to(Step::Print), None);
        assert_eq!(full.card_to(Step::Overlay), Some(CardStatus::Produced));
        assert_eq!(full.card_to(Step::Qc), Some(CardStatus::QcPassed));
        let basic = Program::named("basic").unwrap();
        assert_eq!(basic.card_to(Step::Print), Some(CardStatus::Produced));
        assert_eq!(basic.next(Step::Print), Some(Step::Qc));
        assert_eq!(basic.next(Step::Eject), None);
    }

    #[test]
    fn resume_points() {
        let full = Program::named("full").unwrap();
        assert_eq!(resume_point(&full, None), Ok(Resume::Begun(Step::Feed)));
        assert_eq!(
            resume_point(&full, Some("claimed")),
            Ok(Resume::Begun(Step::Feed))
        );
        assert_eq!(
            resume_point(&full, Some("chip")),
            Ok(Resume::From(Some(Step::Contactless)))
        );
        assert_eq!(
            resume_point(&full, Some("print:begun")),
            Ok(Resume::Begun(Step::Print))
        );
        assert_eq!(resume_point(&full, Some("eject")), Ok(Resume::From(None)));
        let basic = Program::named("basic").unwrap();
        assert_eq!(
            resume_point(&basic, Some("contactless")),
            Ok(Resume::From(Some(Step::Print)))
        );
        assert!(resume_point(&full, Some("polish")).is_err());
    }
}
