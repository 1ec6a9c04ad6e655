//! Storage lanes: the storage work of a chip job that need not hold up the
//! card, run in order on a thread of its own while APDUs go out.
//!
//! A job's database work is most of the hub's own time per card, and most
//! of it does not have to wait for the card or make the card wait: the job
//! row can be written while the read-only opening APDUs (SELECT, GET DATA,
//! READ RECORD) are in flight, the card and its holder can be read then too,
//! and a phase record is progress for people that may trail the card. The
//! engine hands such work to the job's [`Lane`] and waits for it exactly
//! where the rules need it (`engine`): the job row before the first APDU
//! that changes the card, every write queued on the lane before the job's
//! outcome is written ([`Lane::finish`]).
//!
//! A lane's tasks run one after another in the order queued, each taking
//! a connection for itself (reads from the pool, writes the store's writer
//! connection; a long job holds none in between). A job may use two lanes:
//! `engine::run_job` records the job on one while its reads run on the
//! other. The
//! threads outlive their jobs: [`StorageLanes`] (one per `ChipRuntime`)
//! keeps the idle ones for the next job, so a job pays neither a thread's
//! start nor its end. If no thread can be started, or a lane's thread died,
//! tasks run at once on the job's own thread. On Linux a lane's thread
//! runs ten nice levels below the job's, so on busy cores the card's I/O
//! goes first and the lanes write behind it.
//!
//! Not here: what is read or written (`engine`, `cardhub_storage::chips`).

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};

use cardhub_storage::StorageError;

/// A unit of work queued on a lane.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// The idle lanes' threads, kept for the next job.
#[derive(Default)]
pub(crate) struct StorageLanes {
    idle: Mutex<Vec<Worker>>,
}

/// A lane's thread: where to queue, and how much is still to run.
struct Worker {
    tasks: mpsc::Sender<Task>,
    outstanding: Arc<Outstanding>,
}

/// Tasks queued on a worker and not yet run to their end.
#[derive(Default)]
struct Outstanding {
    count: Mutex<usize>,
    none: Condvar,
}

impl Outstanding {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    fn done(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.none.notify_all();
        }
    }

    /// Returns once nothing is outstanding: at once when the worker has
    /// already caught up, as it usually has by a job's end.
    fn wait_none(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            count = self
                .none
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Worker {
    /// Starts a worker thread.
    fn start() -> std::io::Result<Self> {
        let (tasks, rx) = mpsc::channel::<Task>();
        let outstanding = Arc::new(Outstanding::default());
        let counted = Arc::clone(&outstanding);
        std::thread::Builder::new()
            .name("chip-storage".to_owned())
            .spawn(move || {
                yield_to_the_card();
                // Ends when the worker's sender is dropped (the runtime went).
                for task in rx {
                    if catch_unwind(AssertUnwindSafe(task)).is_err() {
                        // A read's waiter then gets `None`; the thread goes on.
                        tracing::error!("a chip job's storage task panicked");
                    }
                    counted.done();
                }
            })?;
        Ok(Self { tasks, outstanding })
    }

    /// Queues `task`, or hands it back if the thread is gone.
    fn queue(&self, task: Task) -> Result<(), Task> {
        self.outstanding.add();
        self.tasks.send(task).map_err(|mpsc::SendError(task)| {
            self.outstanding.done();
            task
        })
    }
}

/// How far a lane thread's nice value sits above the thread that started
/// it (a job's): when the cores are busy, the card's I/O (the job's
/// thread, pcscd, the reader) runs first and the lanes take what is left;
/// when the job waits for a lane, nothing else of the job's runs and the
/// lane has the core.
#[cfg(target_os = "linux")]
const LANE_NICE: libc::c_int = 10;

/// The highest nice value (the lowest priority).
#[cfg(target_os = "linux")]
const LOWEST: libc::c_int = 19;

/// Lowers the calling lane thread's scheduling priority by [`LANE_NICE`].
#[cfg(target_os = "linux")]
fn yield_to_the_card() {
    let Some(now) = own_nice() else {
        return;
    };
    // SAFETY: setpriority(2) takes plain integers and touches none of the
    // program's memory; on Linux, PRIO_PROCESS with `who` 0 is the calling
    // thread only.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, (now + LANE_NICE).min(LOWEST)) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "a storage lane keeps its priority");
    }
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
fn own_nice() -> Option<libc::c_int> {
    // SAFETY: getpriority(2) takes plain integers; errno, this thread's
    // own, is cleared first because -1 is also a valid nice value.
    let (nice, errno) = unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        (nice, *libc::__errno_location())
    };
    (errno == 0).then_some(nice)
}

/// Elsewhere a nice value is the whole process's: the lanes keep theirs.
#[cfg(not(target_os = "linux"))]
fn yield_to_the_card() {}

impl std::fmt::Debug for StorageLanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("StorageLanes").field("idle", &idle).finish()
    }
}

impl StorageLanes {
    /// A lane for one job: an idle thread, or a new one.
    pub(super) fn lane(&self) -> Lane<'_> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let worker = idle.or_else(|| match Worker::start() {
            Ok(worker) => Some(worker),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a chip job's storage thread; its storage work runs in line");
                None
            }
        });
        Lane {
            lanes: self,
            worker: RefCell::new(worker),
        }
    }
}

/// One job's lane. Dropping it without [`Lane::finish`] waits all the
/// same: nothing queued on a lane outlives its job's use of it.
pub(super) struct Lane<'l> {
    lanes: &'l StorageLanes,
    /// `None` when running in line.
    worker: RefCell<Option<Worker>>,
}

impl Lane<'_> {
    /// Queues `task`; runs it now if there is no thread or it died.
    fn queue(&self, task: Task) {
        let refused = match &*self.worker.borrow() {
            Some(worker) => worker.queue(task).err(),
            None => Some(task),
        };
        if let Some(task) = refused {
            if self.worker.borrow_mut().take().is_some() {
                tracing::error!("a chip job's storage thread died; its storage work runs in line");
            }
            task();
        }
    }

    /// Queues `work` after everything queued before; its result comes from
    /// the returned [`Pending`].
    pub(super) fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Pending<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.queue(Box::new(move || {
            // The job stopped waiting for it (it failed first): nothing to do.
            let _ = tx.send(work());
        }));
        Pending(rx)
    }

    /// Queues a write the job does not wait for. A write that fails is
    /// logged: what is written here is progress, which the job's outcome
    /// supersedes (correctness never depends on it).
    pub(super) fn write(
        &self,
        what: &'static str,
        work: impl FnOnce() -> Result<(), StorageError> + Send + 'static,
    ) {
        self.queue(Box::new(move || {
            if let Err(e) = work() {
                tracing::warn!(error = %e, "cannot record {what}; the job goes on");
            }
        }));
    }

    /// Waits until every task queued so far has run; then the thread waits
    /// for the next job. The job's outcome is written only after this: it
    /// takes the [`Drained`] this returns.
    pub(super) fn finish(mut self) -> Drained {
        self.drain();
        Drained(())
    }

    fn drain(&mut self) {
        if let Some(worker) = self.worker.get_mut().take() {
            worker.outstanding.wait_none();
            self.lanes
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(worker);
        }
    }
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        self.drain();
    }
}

/// Proof that a job's lane ran everything queued on it
/// ([`Lane::finish`]).
#[must_use = "a job's outcome is written with it, after its lane is drained"]
pub(super) struct Drained(());

/// The result of work queued with [`Lane::read`].
pub(super) struct Pending<T>(mpsc::Receiver<T>);

impl<T> Pending<T> {
    /// Waits for the result; `None` if the work never ran to its end (it
    /// panicked).
    pub(super) fn wait(self) -> Option<T> {
        self.0.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// How long a wrong implementation gets to show itself.
    const GRACE: Duration = Duration::from_millis(200);

    #[test]
    fn finish_returns_only_after_every_queued_write_ran() {
        let lanes = Arc::new(StorageLanes::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (events_tx, events_rx) = mpsc::channel::<&str>();
        let finisher = {
            let (lanes, log) = (Arc::clone(&lanes), Arc::clone(&log));
            std::thread::spawn(move || {
                let lane = lanes.lane();
                let held = Arc::clone(&log);
                lane.write("a blocked phase", move || {
                    go_rx.recv().expect("the test releases the write");
                    held.lock().expect("log").push("phase");
                    Ok(())
                });
                let _drained = lane.finish();
                log.lock().expect("log").push("finished");
                events_tx.send("finished").expect("the test listens");
            })
        };
        // While the write is held back, finish must not return.
        assert!(
            events_rx.recv_timeout(GRACE).is_err(),
            "finish returned while a queued write had not run"
        );
        go_tx.send(()).expect("the write waits");
        assert_eq!(
            events_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("finish returns once the write ran"),
            "finished"
        );
        finisher.join().expect("the finisher ends");
        assert_eq!(*log.lock().expect("log"), ["phase", "finished"]);
        // The thread waits for the next job.
        assert_eq!(lanes.idle.lock().expect("idle").len(), 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lane_runs_below_the_job_threads_priority() {
        let lanes = StorageLanes::default();
        let lane = lanes.lane();
        let on_lane = lane
            .read(own_nice)
            .wait()
            .flatten()
            .expect("the lane's nice value");
        let here = own_nice().expect("this thread's nice value");
        assert_eq!(
            on_lane,
            (here + LANE_NICE).min(LOWEST),
            "job thread at {here}"
        );
    }

    #[test]
    fn tasks_run_in_the_order_queued_and_a_lane_serves_the_next_job() {
        let lanes = StorageLanes::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        for job in 0..2 {
            let lane = lanes.lane();
            let at = |n: i32| {
                let log = Arc::clone(&log);
                move || log.lock().expect("log").push(job * 10 + n)
            };
            let (first, second, third, fourth) = (at(1), at(2), at(3), at(4));
            let read = lane.read(move || {
                first();
                "card"
            });
            lane.write("second", move || {
                second();
                Ok(())
            });
            lane.write("a failing third", move || {
                third();
                Err(StorageError::NotFound {
                    what: "chip job",
                    key: "7".to_owned(),
                })
            });
            let last = lane.read(move || {
                fourth();
                42
            });
            assert_eq!(read.wait(), Some("card"));
            assert_eq!(last.wait(), Some(42));
            // Dropped, not finished: it drains all the same.
            drop(lane);
            assert_eq!(lanes.idle.lock().expect("idle").len(), 1);
        }
        assert_eq!(*log.lock().expect("log"), [1, 2, 3, 4, 11, 12, 13, 14]);
    }
}
