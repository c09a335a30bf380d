//! Job kinds the delayed-job and schedule tests share (on the SQL queue
//! and on SQS).

use jobs::Job;
use serde::{Deserialize, Serialize};

/// A job enqueued to run later: its number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Later {
    pub n: usize,
}

impl Job for Later {
    const KIND: &'static str = "test.later";
}

/// A scheduled job: the tick it was enqueued for (Unix ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub at: i64,
}

impl Job for Tick {
    const KIND: &'static str = "test.tick";
}
