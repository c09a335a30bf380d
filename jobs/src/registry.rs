//! One list of the application's job kinds, each with its handler, its
//! worker options and its queue (the kind's name): built once, it starts
//! the runtime's workers and answers which queues exist (for
//! `worker --queues`, creating SQS queues, dashboards and metrics).

use std::{future::Future, sync::Arc};

use crate::{Job, JobError, Runtime, WorkerOptions};

type Start<C> = Arc<dyn Fn(&mut Runtime, C, WorkerOptions) + Send + Sync>;

struct Entry<C> {
    kind: &'static str,
    options: WorkerOptions,
    start: Start<C>,
}

/// The job kinds of an application, with handlers that take a context `C`
/// (its database pool, mailer… whatever is only built at start-up) and the
/// job.
pub struct Registry<C> {
    entries: Vec<Entry<C>>,
}

/// `--queues` named a queue the registry does not have.
#[derive(Debug, thiserror::Error)]
#[error("no queue named {name:?}; the queues are: {known}")]
pub struct UnknownQueue {
    pub name: String,
    /// The registered queues, comma-separated, in registration order.
    pub known: String,
}

impl<C: Clone + Send + Sync + 'static> Default for Registry<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clone + Send + Sync + 'static> Registry<C> {
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Adds kind `J`, worked with `options` by `handler(context, job)`.
    ///
    /// Panics if `J::KIND` is already registered: two handlers for one
    /// queue is a wiring mistake, caught at start-up.
    pub fn register<J, H, Fut>(mut self, options: WorkerOptions, handler: H) -> Self
    where
        J: Job,
        H: Fn(C, J) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        assert!(
            !self.entries.iter().any(|e| e.kind == J::KIND),
            "job kind {} registered twice",
            J::KIND
        );
        let start: Start<C> = Arc::new(move |runtime: &mut Runtime, context: C, options| {
            let handler = handler.clone();
            runtime.spawn(options, move |job: J| handler(context.clone(), job));
        });
        self.entries.push(Entry {
            kind: J::KIND,
            options,
            start,
        });
        self
    }

    /// Adds kind `J`, worked in batches (see [`crate::batch`]) by
    /// `handler(context, jobs)`, which returns one outcome per job in the
    /// order given. `options.fetch_batch` is the most jobs per batch (at
    /// most ten on SQS), `options.concurrency` the batches run at once.
    ///
    /// Panics if `J::KIND` is already registered.
    pub fn register_batch<J, H, Fut>(mut self, options: WorkerOptions, handler: H) -> Self
    where
        J: Job,
        H: Fn(C, Vec<J>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = crate::batch::Outcomes> + Send + 'static,
    {
        assert!(
            !self.entries.iter().any(|e| e.kind == J::KIND),
            "job kind {} registered twice",
            J::KIND
        );
        let start: Start<C> = Arc::new(move |runtime: &mut Runtime, context: C, options| {
            let handler = handler.clone();
            runtime.spawn_batch(options, move |jobs: Vec<J>| handler(context.clone(), jobs));
        });
        self.entries.push(Entry {
            kind: J::KIND,
            options,
            start,
        });
        self
    }

    /// Every kind (queue), in registration order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.kind).collect()
    }

    /// The options kind `kind` was registered with.
    pub fn options(&self, kind: &str) -> Option<&WorkerOptions> {
        self.entries
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| &e.options)
    }

    /// Checks queue names (`worker --queues`): each must be registered.
    pub fn check(&self, queues: &[String]) -> Result<(), UnknownQueue> {
        match queues
            .iter()
            .find(|q| !self.entries.iter().any(|e| e.kind == q.as_str()))
        {
            Some(name) => Err(UnknownQueue {
                name: name.clone(),
                known: self.kinds().join(", "),
            }),
            None => Ok(()),
        }
    }

    /// Starts a worker per kind in `queues` (every kind when empty) on
    /// `runtime`, each with its registered options, its concurrency
    /// replaced by `concurrency` when given. Errors on an unknown queue,
    /// starting none.
    pub fn start(
        &self,
        runtime: &mut Runtime,
        context: C,
        queues: &[String],
        concurrency: Option<usize>,
    ) -> Result<(), UnknownQueue> {
        self.check(queues)?;
        for entry in &self.entries {
            if queues.is_empty() || queues.iter().any(|q| q == entry.kind) {
                let mut options = entry.options.clone();
                if let Some(n) = concurrency {
                    options.concurrency = n.max(1);
                }
                (entry.start)(runtime, context.clone(), options);
            }
        }
        Ok(())
    }
}
