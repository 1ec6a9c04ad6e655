//! How a supervisor is described before it starts: [`SupervisorSpec`] and
//! its [`Strategy`], and [`ChildSpec::supervisor`] to nest one.
//!
//! Plain data, cloned for every (re)start of the supervisor it describes, so
//! each run begins from the spec and not from the previous run. The actor
//! built from it is in [`super::supervisor`].

use serde::Serialize;

use super::child::{ChildContext, ChildKind, ChildSpec};
use super::config::SupervisionConfig;
use super::supervisor::Supervisor;

/// How one child's failure affects its siblings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child is restarted.
    OneForOne,
    /// All children are stopped (last first) and started again in order:
    /// for children that cannot work without each other.
    OneForAll,
}

/// A supervisor's name, settings and initial children.
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    pub(super) name: String,
    pub(super) config: SupervisionConfig,
    pub(super) strategy: Strategy,
    pub(super) children: Vec<ChildSpec>,
    pub(super) rng_seed: Option<u64>,
}

impl SupervisorSpec {
    /// A one-for-one supervisor with no children yet.
    pub fn new(name: impl Into<String>, config: SupervisionConfig) -> Self {
        Self {
            name: name.into(),
            config,
            strategy: Strategy::OneForOne,
            children: Vec::new(),
            rng_seed: None,
        }
    }

    /// Sets the restart strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Adds a child, started after the ones added before it.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Seeds the back-off jitter, so that a run can be replayed exactly.
    /// Without a seed the jitter is seeded from the operating system.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl ChildSpec {
    /// A nested supervisor as a permanent child. Each (re)start builds a
    /// fresh supervisor from `spec`, whose children start fresh too. It is
    /// given as long as its own children need to stop.
    pub fn supervisor(spec: SupervisorSpec) -> Self {
        let name = spec.name.clone();
        ChildSpec::new(name, move |cx: &ChildContext| {
            Supervisor::new(spec.clone(), cx.clone())
        })
        .with_kind(ChildKind::Supervisor)
    }
}
