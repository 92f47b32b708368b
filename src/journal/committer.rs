//! Group commit of journal messages: each sender's message waits on one
//! channel; a single task takes every message waiting (up to
//! [`MAX_GROUP`]) and commits them in one transaction, in arrival order.
//! While one group commits, the next gathers, so the many senders of a
//! busy feed share each fsync instead of queueing for one apiece.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::journal::{JournalCommit, JournalMessage};
use crate::store::{Store, StoreError};

/// The most messages one transaction commits: enough that 20 busy senders
/// share each commit, few enough that a transaction stays short.
pub const MAX_GROUP: usize = 256;

/// Messages waiting for the committer: bounded, so a stalled store makes
/// senders wait (each is one message in hand per connection) rather than
/// grow a queue.
const QUEUE: usize = 1024;

type Answer = Result<JournalCommit, Arc<StoreError>>;

struct Waiting {
    message: JournalMessage,
    answer: oneshot::Sender<Answer>,
}

/// The handle the service commits through.
pub(super) struct Committer {
    queue: mpsc::Sender<Waiting>,
}

impl Committer {
    /// Starts the committer task over `store` (inside the runtime).
    pub(super) fn start(store: Arc<dyn Store>, grace_ms: i64) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, grace_ms, waiting));
        Committer { queue }
    }

    /// Commits one message with whatever else is waiting.
    pub(super) async fn commit(&self, message: JournalMessage) -> Answer {
        let (answer, answered) = oneshot::channel();
        let stopped = || {
            Arc::new(StoreError::Unreachable {
                target: "the journal committer".into(),
                reason: "it has stopped".into(),
            })
        };
        if self.queue.send(Waiting { message, answer }).await.is_err() {
            return Err(stopped());
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(store: Arc<dyn Store>, grace_ms: i64, mut waiting: mpsc::Receiver<Waiting>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (messages, answers): (Vec<_>, Vec<_>) =
            group.drain(..).map(|w| (w.message, w.answer)).unzip();
        let now_ms = chrono::Utc::now().timestamp_millis();
        // One observation per transaction, as for the case events' batches.
        let started = std::time::Instant::now();
        let committed = store.commit_journal(&messages, grace_ms, now_ms).await;
        crate::metrics::store_commit(started.elapsed());
        match committed {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(Ok(result));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for answer in answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}
