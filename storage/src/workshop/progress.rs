//! A card's progress (制卡进度查询): the card, its application's task, the
//! task's steps and wastes, the card's status history and the
//! application's other cards, read in one snapshot; and the lookups the
//! progress endpoints start from (a card by its number, an application's
//! current card).

use serde::Serialize;

use super::{StepRecord, Task, WasteRecord, steps_of_task, task_of_application, waste_of_task};
use crate::Store;
use crate::cards::{self, Card, CardStatusChange};
use crate::connection::{DbConnection, snapshot_tx};
use crate::error::StorageError;

/// Everything the workshop knows about a card.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CardProgress {
    /// The card.
    pub card: Card,
    /// Its application's task, once extracted (after a waste the task is
    /// on the remade card; it is shown for every card of the application).
    pub task: Option<Task>,
    /// The task's steps, in order, over every card and attempt (each names
    /// its card).
    pub steps: Vec<StepRecord>,
    /// The card's status history, oldest first.
    pub history: Vec<CardStatusChange>,
    /// The task's wasted cards, oldest first.
    pub waste: Vec<WasteRecord>,
    /// The application's other cards, oldest first: earlier wasted cards,
    /// or for a wasted card the ones made after it.
    pub other_cards: Vec<Card>,
}

/// The progress of card `card_id` ([`StorageError::NotFound`] if there is
/// no such card).
pub fn card_progress(conn: &mut DbConnection, card_id: i64) -> Result<CardProgress, StorageError> {
    snapshot_tx(conn, |conn| {
        let card = cards::get_card(conn, card_id)?;
        let task = task_of_application(conn, card.application_id)?;
        let (steps, waste) = match &task {
            Some(task) => (steps_of_task(conn, task.id)?, waste_of_task(conn, task.id)?),
            None => (Vec::new(), Vec::new()),
        };
        let history = cards::card_history(conn, card_id)?;
        let other_cards = cards::cards_of_application(conn, card.application_id)?
            .into_iter()
            .filter(|c| c.id != card_id)
            .collect();
        Ok(CardProgress {
            card,
            task,
            steps,
            history,
            waste,
            other_cards,
        })
    })
}

/// The card with number `number` ([`StorageError::NotFound`] if none has
/// it).
pub fn card_by_number(conn: &mut DbConnection, number: &str) -> Result<Card, StorageError> {
    cards::find_card_by_number(conn, number)?.ok_or_else(|| StorageError::NotFound {
        what: "card number",
        key: number.to_owned(),
    })
}

/// An application's current card: its live card (neither `waste` nor
/// `cancelled`; after a waste, the remade card), else its newest card.
/// [`StorageError::NotFound`] if the application has no card (or does not
/// exist).
pub fn current_card_of_application(
    conn: &mut DbConnection,
    application_id: i64,
) -> Result<Card, StorageError> {
    let mut all = cards::cards_of_application(conn, application_id)?;
    let live = all.iter().rposition(|c| !c.status.is_terminal());
    let newest = all.len().checked_sub(1);
    live.or(newest)
        .map(|i| all.swap_remove(i))
        .ok_or_else(|| StorageError::NotFound {
            what: "card of application",
            key: application_id.to_string(),
        })
}

impl Store {
    /// [`card_by_number`] on the blocking pool.
    pub async fn card_by_number(&self, number: String) -> Result<Card, StorageError> {
        self.run("workshop.card_by_number", move |conn| {
            card_by_number(conn, &number)
        })
        .await
    }

    /// [`current_card_of_application`] on the blocking pool.
    pub async fn current_card_of_application(
        &self,
        application_id: i64,
    ) -> Result<Card, StorageError> {
        self.run("workshop.current_card_of_application", move |conn| {
            current_card_of_application(conn, application_id)
        })
        .await
    }

    /// [`card_progress`] on the blocking pool.
    pub async fn card_progress(&self, card_id: i64) -> Result<CardProgress, StorageError> {
        self.run("workshop.card_progress", move |conn| {
            card_progress(conn, card_id)
        })
        .await
    }
}
