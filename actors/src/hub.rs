//! The hub: the root of cardhub's supervision tree.
//!
//! ```text
//! hub
//! ├─ devices    one actor per local device (printer, reader, camera, ID reader)
//! ├─ workshop   production lines
//! ├─ branches   terminal sessions, one per connected branch PC
//! ├─ channels   banks, SMS carriers, logistics, card-holder database, police
//! └─ workers    added after the subtrees: notifier, status bus, scheduler
//! ```
//!
//! The four subtrees are real supervisors that start empty; the modules that
//! own devices, lines, sessions and channels add their children through
//! [`HubBuilder::child`] at start-up or [`HubHandle::subtree`] at run time.
//! The supervision machinery itself is in [`crate::supervision`].

use tokio::sync::broadcast;

use crate::supervision::{
    ChildSpec, SupervisionConfig, SupervisionError, SupervisorEvent, SupervisorHandle,
    SupervisorSpec, TreeExit, TreeHandle, TreeStatus,
};

/// One of the hub's subtrees, in start order (they stop in reverse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subtree {
    /// `DeviceSupervisor`: the hub's own devices.
    Devices,
    /// `Workshop` (制卡车间): production lines and their devices.
    Workshop,
    /// `Branches` (网点): terminal sessions and the branch devices driven
    /// through them.
    Branches,
    /// `Channels`: links to outside parties.
    Channels,
}

impl Subtree {
    /// Every subtree, in start order.
    pub const ALL: [Subtree; 4] = [
        Self::Devices,
        Self::Workshop,
        Self::Branches,
        Self::Channels,
    ];

    /// The subtree supervisor's name; its path is `hub/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Devices => "devices",
            Self::Workshop => "workshop",
            Self::Branches => "branches",
            Self::Channels => "channels",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Devices => 0,
            Self::Workshop => 1,
            Self::Branches => 2,
            Self::Channels => 3,
        }
    }
}

/// Entry point for starting the hub's actor tree.
#[derive(Debug)]
pub struct Hub;

impl Hub {
    /// Name of the root supervisor.
    pub const ROOT: &'static str = "hub";

    /// Starts the hub's tree with empty subtrees. Call from inside the actix
    /// system (e.g. `#[actix_web::main]`).
    pub fn start(config: &SupervisionConfig) -> HubHandle {
        Self::builder(config).start()
    }

    /// A builder to add children before starting.
    pub fn builder(config: &SupervisionConfig) -> HubBuilder {
        HubBuilder {
            config: config.clone(),
            subtrees: Default::default(),
            workers: Vec::new(),
            rng_seed: None,
        }
    }
}

/// The hub's tree before it starts.
#[derive(Debug)]
pub struct HubBuilder {
    config: SupervisionConfig,
    subtrees: [Vec<ChildSpec>; 4],
    workers: Vec<ChildSpec>,
    rng_seed: Option<u64>,
}

impl HubBuilder {
    /// Adds a child to a subtree, after the ones added before.
    pub fn child(mut self, subtree: Subtree, child: ChildSpec) -> Self {
        self.subtrees[subtree.index()].push(child);
        self
    }

    /// Adds a direct child of the hub, started after the subtrees (the
    /// notifier, the status bus, the scheduler).
    pub fn worker(mut self, child: ChildSpec) -> Self {
        self.workers.push(child);
        self
    }

    /// Seeds the back-off jitter of every supervisor in the tree, for runs
    /// that must replay exactly.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    fn supervisor(&self, name: &str, children: Vec<ChildSpec>) -> SupervisorSpec {
        let spec = children.into_iter().fold(
            SupervisorSpec::new(name, self.config.clone()),
            SupervisorSpec::child,
        );
        match self.rng_seed {
            Some(seed) => spec.rng_seed(seed),
            None => spec,
        }
    }

    /// Starts the tree and returns its handle.
    pub fn start(mut self) -> HubHandle {
        let subtrees = std::mem::take(&mut self.subtrees);
        let mut root = self.supervisor(Hub::ROOT, Vec::new());
        for (subtree, children) in Subtree::ALL.into_iter().zip(subtrees) {
            root = root.child(ChildSpec::supervisor(
                self.supervisor(subtree.name(), children),
            ));
        }
        for worker in std::mem::take(&mut self.workers) {
            root = root.child(worker);
        }
        HubHandle {
            tree: TreeHandle::start(root),
        }
    }
}

/// The running hub: what `main` and the web handlers hold. Clones share the
/// hub; dropping the last clone shuts it down.
#[derive(Clone)]
pub struct HubHandle {
    tree: TreeHandle,
}

// HTTP workers run on their own threads and share the handle through
// `web::Data`: it must stay `Send + Sync`.
const _: fn() = || {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<HubHandle>();
    shared_across_threads::<SupervisorHandle>();
};

impl HubHandle {
    /// The whole tree's state for `/healthz` ([`TreeStatus::is_up`]) and the
    /// monitoring wall.
    pub async fn status(&self) -> TreeStatus {
        self.tree.status().await
    }

    /// Stops everything in reverse start order (workers, then channels,
    /// branches, workshop, devices), waiting for each within its shutdown
    /// timeout.
    pub async fn shutdown(&self) -> TreeExit {
        self.tree.shutdown().await
    }

    /// Resolves when the hub's tree has ended: on [`TreeExit::Escalated`]
    /// `main` logs the reason and exits non-zero.
    pub async fn wait_exit(&self) -> TreeExit {
        self.tree.wait_exit().await
    }

    /// Supervision events from the whole tree, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.tree.subscribe()
    }

    /// The current run of a subtree's supervisor, to add or remove children
    /// at run time.
    pub async fn subtree(&self, subtree: Subtree) -> Result<SupervisorHandle, SupervisionError> {
        self.tree.root().child_supervisor(subtree.name()).await
    }

    /// The subtree's supervisor once it runs: the tree starts its subtrees
    /// in the background, so a caller adding children right after
    /// [`Hub::start`] waits here (on the tree's events, up to `timeout`).
    pub async fn running_subtree(
        &self,
        subtree: Subtree,
        timeout: std::time::Duration,
    ) -> Result<SupervisorHandle, SupervisionError> {
        // Subscribed before the first look, so a start in between is seen.
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.subtree(subtree).await {
                Err(SupervisionError::ChildNotRunning { .. }) => {}
                done => return done,
            }
            let wait = tokio::time::timeout_at(deadline, events.recv()).await;
            if wait.is_err() || matches!(wait, Ok(Err(broadcast::error::RecvError::Closed))) {
                return self.subtree(subtree).await;
            }
        }
    }

    /// The underlying tree.
    pub fn tree(&self) -> &TreeHandle {
        &self.tree
    }
}
