//! [`Jobs`]: the jobs runner's settings and the controls that tests and maintenance use
//! (pause, single steps, batch size, poll interval). Part of [`crate::App`]; the runner
//! itself is [`super::runner`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// How often an idle runner looks for jobs queued by other processes (the default of
/// [`Jobs::set_poll`]).
pub const POLL: Duration = Duration::from_secs(5);

/// Items per step when none is set ([`Jobs::set_batch`]).
pub const DEFAULT_BATCH: u32 = 500;

/// The runner's settings and controls ([`crate::App::jobs`]).
#[derive(Debug)]
pub struct Jobs {
    /// This process's owner id in `jobs.owner`.
    pub(super) owner: String,
    /// Items per step.
    pub(super) batch: AtomicU32,
    /// Milliseconds between looks at the database when idle.
    pub(super) poll_ms: AtomicU64,
    /// Milliseconds a claimed job stays this process's without a progress report.
    pub(super) lease_ms: AtomicU64,
    pub(super) wake: Notify,
    /// Steps the runner may still run: `None` unlimited (normal), `Some(0)` paused.
    pub(super) budget: watch::Sender<Option<u64>>,
    pub(super) started: AtomicBool,
}

impl Jobs {
    /// The controls of a runner that has not started (see [`super::spawn`]).
    pub fn new() -> Jobs {
        Jobs {
            owner: uuid::Uuid::new_v4().to_string(),
            batch: AtomicU32::new(DEFAULT_BATCH),
            poll_ms: AtomicU64::new(millis(POLL)),
            lease_ms: AtomicU64::new(millis(super::LEASE)),
            wake: Notify::new(),
            budget: watch::Sender::new(None),
            started: AtomicBool::new(false),
        }
    }

    /// Sets the number of items per step (one progress report each).
    pub fn set_batch(&self, batch: u32) {
        self.batch.store(batch.max(1), Ordering::SeqCst);
    }

    /// Sets how often the idle runner looks for work and for changes made by other
    /// processes (default [`POLL`]).
    pub fn set_poll(&self, every: Duration) {
        self.poll_ms.store(millis(every).max(1), Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Sets how long a job this process claims stays its own without a progress report
    /// (default [`super::LEASE`]): tests shorten it to see another process take over the job
    /// of one that stopped.
    pub fn set_lease(&self, lease: Duration) {
        self.lease_ms.store(millis(lease).max(1), Ordering::SeqCst);
    }

    /// Epoch microseconds at which a lease taken or extended now ends.
    pub(super) fn lease_until(&self) -> i64 {
        let lease = i64::try_from(self.lease_ms.load(Ordering::SeqCst)).unwrap_or(i64::MAX);
        chrono::Utc::now()
            .timestamp_micros()
            .saturating_add(lease.saturating_mul(1000))
    }

    /// Stops claiming jobs and holds running ones between steps (tests and maintenance).
    pub fn pause(&self) {
        self.budget.send_replace(Some(0));
    }

    /// Lets a paused runner run `steps` more steps, then pause again (tests).
    pub fn step(&self, steps: u64) {
        self.budget
            .send_modify(|b| *b = Some(b.unwrap_or(0) + steps));
        self.wake.notify_one();
    }

    /// Steps the runner may still run (`None`: unlimited); `Some(0)` once the steps allowed
    /// by [`Jobs::step`] have run and recorded their progress (tests).
    pub fn steps_left(&self) -> Option<u64> {
        *self.budget.borrow()
    }

    /// Undoes [`Jobs::pause`].
    pub fn resume(&self) {
        self.budget.send_replace(None);
        self.wake.notify_one();
    }

    /// Tells the runner a job was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) fn paused(&self) -> bool {
        *self.budget.borrow() == Some(0)
    }

    pub(super) async fn wait_while_paused(&self) {
        let mut rx = self.budget.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|b| *b != Some(0)).await;
    }

    /// Counts one step against the budget.
    pub(super) fn spend(&self) {
        self.budget.send_modify(|b| {
            if let Some(n) = b {
                *n = n.saturating_sub(1);
            }
        });
    }
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs::new()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
