//! Group commit: small writes that many requests make at once (the audit
//! entry and branch operation of every personal-information query) are
//! written together, one transaction for all that are waiting, by one
//! thread with one connection. Each request still waits until its own
//! write is committed before it is answered, so nothing is acknowledged
//! before it is stored; what changes is that 2,000 queries a second make
//! tens of transactions a second instead of 2,000, and do not queue on
//! SQLite's write lock one by one.
//!
//! Each write runs in a savepoint of the batch's transaction: one that
//! fails rolls back alone and its caller gets its error; the others
//! commit. If the batch's commit fails, every caller in it gets that
//! error and nothing of the batch is stored.
//!
//! The thread starts with the first write and ends when the [`Store`]'s
//! last clone is dropped.

use std::sync::{Mutex, mpsc};

use tokio::sync::oneshot;

use crate::Store;
use crate::connection::{DbConnection, write_tx};
use crate::error::StorageError;

/// Most writes one transaction takes.
const MAX_BATCH: usize = 256;

/// One write, run in the batch's transaction.
type Write = Box<dyn FnOnce(&mut DbConnection) -> Result<(), StorageError> + Send>;

/// One write and who waits for it.
struct Job {
    write: Write,
    done: oneshot::Sender<Result<(), StorageError>>,
}

/// The writer's queue (started on first use).
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
}

impl GroupCommit {
    fn sender(&self, store: &Store) -> Result<mpsc::Sender<Job>, StorageError> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = queue.as_ref() {
            return Ok(tx.clone());
        }
        let (tx, rx) = mpsc::channel();
        // The thread ends when this queue's sender is dropped with the
        // store's last clone; its pool handle goes with it.
        let pool = store.pool_handle();
        std::thread::Builder::new()
            .name("cardhub-group-commit".into())
            .spawn(move || run(&pool, &rx))
            .map_err(|e| {
                StorageError::Task(format!("cannot start the group-commit writer: {e}"))
            })?;
        *queue = Some(tx.clone());
        Ok(tx)
    }
}

/// The writer: takes what is waiting (at most [`MAX_BATCH`]), writes it
/// in one transaction, tells each caller, and waits for more.
fn run(pool: &crate::store::PoolHandle, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let size = batch.len();
        let (writes, waiters): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|j| (j.write, j.done)).unzip();
        let outcome = pool.get().map_err(StorageError::from).and_then(|mut conn| {
            write_tx(&mut conn, |conn| {
                Ok(writes
                    .into_iter()
                    .map(|write| write_tx(conn, write))
                    .collect::<Vec<_>>())
            })
        });
        metrics::histogram!("cardhub_db_query_seconds", "op" => "group_commit")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("cardhub_db_group_commit_size").record(size as f64);
        match outcome {
            Ok(results) => {
                for (done, result) in waiters.into_iter().zip(results) {
                    // The caller gave up waiting: its write is stored anyway.
                    let _ = done.send(result);
                }
            }
            Err(e) => {
                let reason = format!("the group commit of {size} writes failed: {e}");
                tracing::error!(%reason);
                for done in waiters {
                    let _ = done.send(Err(StorageError::Task(reason.clone())));
                }
            }
        }
    }
}

impl Store {
    /// Writes `write` in the next group commit and waits until it is
    /// committed (see the module docs). For small, independent writes
    /// many requests make at once; a write that must see its own reads in
    /// the same transaction uses [`Store::run`] with [`crate::write_tx`].
    pub async fn commit_grouped(
        &self,
        write: impl FnOnce(&mut DbConnection) -> Result<(), StorageError> + Send + 'static,
    ) -> Result<(), StorageError> {
        let (done, wait) = oneshot::channel();
        let job = Job {
            write: Box::new(write),
            done,
        };
        self.group_commit()
            .sender(self)?
            .send(job)
            .map_err(|_| StorageError::Task("the group-commit writer stopped".into()))?;
        wait.await.map_err(|_| {
            StorageError::Task("the group-commit writer stopped before committing".into())
        })?
    }
}
