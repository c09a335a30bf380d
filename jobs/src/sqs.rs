//! The Amazon SQS backend: a queue per job kind, each with its dead-letter
//! queue, worked by long-polling workers that never hold more messages than
//! they have free slots for.
//!
//! - Names: `{prefix}-{kind}` with dots turned into hyphens, the dead-letter
//!   queue `…-dlq`, and `.fifo` at the end of both for FIFO queues.
//! - Visibility: a received message stays hidden for the job's timeout plus
//!   a margin, capped at `visibility`; a job that runs longer has its
//!   visibility extended by a heartbeat every half of it.
//! - Outcomes: success deletes the message; a retryable failure hides it
//!   again for an exponential backoff (`ChangeMessageVisibility`), so the
//!   next receive is the next attempt; a permanent failure, an undecodable
//!   body or a last attempt moves it to the dead-letter queue at once, with
//!   the error in its attributes. The redrive policy (`max_receives`) is the
//!   backstop for messages whose worker died each time.
//! - Any SQS-compatible server works: the client comes from the AWS SDK's
//!   standard configuration (`AWS_REGION`, credentials,
//!   `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_sdk_sqs::{
    Client,
    types::{
        MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
        SendMessageBatchRequestEntry,
    },
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{ExponentialBackoff, Job, JobError, WorkerOptions};

/// The AWS SDK for SQS, for callers that build their own client.
pub use aws_sdk_sqs as aws;

/// SQS accepts messages (body and attributes) of at most 256 KiB.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// SQS's longest per-message delay (`DelaySeconds`): 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Entries per `SendMessageBatch` / messages per `ReceiveMessage`, at most.
const BATCH: usize = 10;

/// How Rally's queues are named and worked on SQS.
#[derive(Debug, Clone)]
pub struct SqsConfig {
    /// Every queue's name starts with it (one prefix per deployment).
    pub prefix: String,
    /// Receives after which SQS itself moves a message to the dead-letter
    /// queue (the redrive policy): the backstop for crashing workers.
    pub max_receives: u32,
    /// FIFO queues: exactly-once enqueueing per deduplication id.
    pub fifo: bool,
    /// Long-poll wait of a receive (at most 20 s).
    pub wait: Duration,
    /// Longest a received message is hidden before a heartbeat extends it.
    pub visibility: Duration,
    /// Longest delay SQS holds a message for (`DelaySeconds`; SQS's own
    /// maximum is 15 minutes). A job due later waits in the database
    /// (`jobs_delayed`) until it is due within this, then is sent with
    /// the rest as its delay: see [`crate::delay`].
    pub max_delay: Duration,
}

impl Default for SqsConfig {
    fn default() -> Self {
        Self {
            prefix: "rally".into(),
            max_receives: 5,
            fifo: false,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(60),
            max_delay: MAX_DELAY,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("SQS request failed: {0}")]
    Request(String),
    #[error(
        "a {kind} job is {bytes} bytes, over SQS's message size limit of {MAX_MESSAGE_BYTES} bytes"
    )]
    TooLarge { kind: String, bytes: usize },
    #[error("queue {0} does not exist: create the queues with `rally queues create`")]
    NoQueue(String),
}

fn request_error<E: std::fmt::Debug>(err: aws_sdk_sqs::error::SdkError<E>) -> SqsError {
    // The SDK's Display says only "service error"; the Debug form names the
    // code and message the server gave.
    match &err {
        aws_sdk_sqs::error::SdkError::ServiceError(service) => {
            SqsError::Request(format!("{:?}", service.err()))
        }
        other => SqsError::Request(format!("{other:?}")),
    }
}

/// A message to send: its body, and the id that deduplicates it (FIFO) and
/// groups it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: String,
    pub dedup_key: Option<String>,
    /// The job's organization, sent as the message attribute
    /// `organization` (kept when the message is dead-lettered).
    pub organization: Option<i64>,
}

/// The message attribute that carries a job's organization.
const ORGANIZATION: &str = "organization";

fn text_attribute(value: String) -> Result<MessageAttributeValue, SqsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SqsError::Request(e.to_string()))
}

/// The organization a received message carries, if any.
fn organization_of(message: &aws_sdk_sqs::types::Message) -> Option<i64> {
    message
        .message_attributes()
        .and_then(|a| a.get(ORGANIZATION))
        .and_then(|v| v.string_value())
        .and_then(|v| v.parse().ok())
}

/// Counts for one SQS queue as SQS reports them (approximate by nature).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqsCounts {
    pub visible: i64,
    pub in_flight: i64,
    pub delayed: i64,
    pub dead: i64,
}

/// A message in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetter {
    pub id: String,
    pub kind: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub body: String,
    pub organization: Option<i64>,
}

/// Handle to the SQS queues of one prefix; cheap to clone.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    config: SqsConfig,
    urls: Arc<Mutex<HashMap<String, String>>>,
}

impl SqsQueue {
    pub fn new(client: Client, config: SqsConfig) -> Self {
        Self {
            client,
            config,
            urls: Default::default(),
        }
    }

    /// A client from the AWS SDK's standard environment and profile, with
    /// timeouts so that an unreachable server fails requests instead of
    /// hanging them.
    pub async fn from_env(config: SqsConfig) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(config.wait + Duration::from_secs(10))
                    .build(),
            )
            .load()
            .await;
        Self::new(Client::new(&sdk), config)
    }

    pub fn config(&self) -> &SqsConfig {
        &self.config
    }

    /// The queue name for a job kind.
    pub fn queue_name(&self, kind: &str) -> String {
        self.name(kind, "")
    }

    /// The dead-letter queue name for a job kind.
    pub fn dead_letter_name(&self, kind: &str) -> String {
        self.name(kind, "-dlq")
    }

    fn name(&self, kind: &str, suffix: &str) -> String {
        let fifo = if self.config.fifo { ".fifo" } else { "" };
        format!(
            "{}-{}{suffix}{fifo}",
            self.config.prefix,
            kind.replace('.', "-")
        )
    }

    /// Creates, for each kind, the dead-letter queue and the queue with its
    /// redrive policy; an existing queue gets its attributes brought up to
    /// date. Safe to run again. Returns the queue names.
    pub async fn create_queues(&self, kinds: &[&str]) -> Result<Vec<String>, SqsError> {
        let mut created = Vec::new();
        for kind in kinds {
            let dlq_name = self.dead_letter_name(kind);
            let dlq_url = self.ensure_queue(&dlq_name, self.base_attributes()).await?;
            let arn = self
                .client
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(request_error)?
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .ok_or_else(|| SqsError::Request(format!("no ARN for {dlq_name}")))?;
            let mut attributes = self.base_attributes();
            attributes.push((
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({
                    "deadLetterTargetArn": arn,
                    "maxReceiveCount": self.config.max_receives.max(1).to_string(),
                })
                .to_string(),
            ));
            let name = self.queue_name(kind);
            self.ensure_queue(&name, attributes).await?;
            created.push(name);
            created.push(dlq_name);
        }
        Ok(created)
    }

    fn base_attributes(&self) -> Vec<(QueueAttributeName, String)> {
        let mut attributes = vec![(
            QueueAttributeName::MessageRetentionPeriod,
            (14 * 24 * 3600).to_string(),
        )];
        if self.config.fifo {
            attributes.push((QueueAttributeName::FifoQueue, "true".into()));
        }
        attributes
    }

    async fn ensure_queue(
        &self,
        name: &str,
        attributes: Vec<(QueueAttributeName, String)>,
    ) -> Result<String, SqsError> {
        if let Ok(found) = self.client.get_queue_url().queue_name(name).send().await
            && let Some(url) = found.queue_url()
        {
            let mut update = self.client.set_queue_attributes().queue_url(url);
            for (key, value) in attributes {
                // FifoQueue cannot be changed after creation.
                if key != QueueAttributeName::FifoQueue {
                    update = update.attributes(key, value);
                }
            }
            update.send().await.map_err(request_error)?;
            return Ok(url.to_string());
        }
        let mut create = self.client.create_queue().queue_name(name);
        for (key, value) in attributes {
            create = create.attributes(key, value);
        }
        let out = create.send().await.map_err(request_error)?;
        out.queue_url()
            .map(str::to_string)
            .ok_or_else(|| SqsError::Request(format!("no URL for {name}")))
    }

    /// The URL of a queue by name, looked up once.
    async fn url(&self, name: &str) -> Result<String, SqsError> {
        if let Some(url) = self
            .urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(url.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|err| match &err {
                aws_sdk_sqs::error::SdkError::ServiceError(e)
                    if e.err().is_queue_does_not_exist() =>
                {
                    SqsError::NoQueue(name.to_string())
                }
                _ => request_error(err),
            })?;
        let url = out
            .queue_url()
            .ok_or_else(|| SqsError::NoQueue(name.to_string()))?
            .to_string();
        self.urls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), url.clone());
        Ok(url)
    }

    /// Checks a body against SQS's size limit.
    pub fn check_size(kind: &str, body: &str) -> Result<(), SqsError> {
        // Attributes are added only when dead-lettering; leave room for them.
        if body.len() > MAX_MESSAGE_BYTES - 1024 {
            return Err(SqsError::TooLarge {
                kind: kind.to_string(),
                bytes: body.len(),
            });
        }
        Ok(())
    }

    /// Sends jobs of `kind` in batches of ten. Returns, in order, whether
    /// each message was accepted: a batch SQS refused as a whole is an
    /// error; single refused entries come back as `false` to be retried.
    pub async fn send_batch(
        &self,
        kind: &str,
        messages: &[Outgoing],
    ) -> Result<Vec<bool>, SqsError> {
        self.send_batch_delayed(kind, messages, &[]).await
    }

    /// [`SqsQueue::send_batch`], message `i` hidden for `delays[i]` seconds
    /// (`DelaySeconds`, at most 900; none when `delays` is shorter, and
    /// never on FIFO queues, which take no per-message delay).
    pub(crate) async fn send_batch_delayed(
        &self,
        kind: &str,
        messages: &[Outgoing],
        delays: &[i32],
    ) -> Result<Vec<bool>, SqsError> {
        let url = self.url(&self.queue_name(kind)).await?;
        let mut accepted = vec![false; messages.len()];
        for (chunk_index, chunk) in messages.chunks(BATCH).enumerate() {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, message) in chunk.iter().enumerate() {
                Self::check_size(kind, &message.body)?;
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&message.body);
                if let Some(organization) = message.organization {
                    entry = entry.message_attributes(
                        ORGANIZATION,
                        text_attribute(organization.to_string())?,
                    );
                }
                if let Some(&delay) = delays.get(chunk_index * BATCH + i)
                    && delay > 0
                    && !self.config.fifo
                {
                    entry = entry.delay_seconds(delay.min(MAX_DELAY.as_secs() as i32));
                }
                if self.config.fifo {
                    let dedup = message
                        .dedup_key
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
                    entry = entry
                        .message_group_id(dedup.clone())
                        .message_deduplication_id(dedup);
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|e| SqsError::Request(e.to_string()))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(request_error)?;
            for ok in out.successful() {
                if let Ok(i) = ok.id().parse::<usize>() {
                    accepted[chunk_index * BATCH + i] = true;
                }
            }
            for failed in out.failed() {
                tracing::warn!(kind, code = failed.code(), message = ?failed.message(), "SQS refused a message");
            }
        }
        Ok(accepted)
    }

    /// Sends one job of type `J` (outside any transaction).
    pub async fn send<J: Job>(&self, job: &J) -> Result<(), SqsError> {
        let body = serde_json::to_string(job).map_err(|e| SqsError::Request(e.to_string()))?;
        let sent = self
            .send_batch(
                J::KIND,
                &[Outgoing {
                    body,
                    dedup_key: job.idempotency_key(),
                    organization: job.organization(),
                }],
            )
            .await?;
        if sent.iter().all(|ok| *ok) {
            Ok(())
        } else {
            Err(SqsError::Request("SQS refused the message".into()))
        }
    }

    /// Counts per kind: messages waiting, hidden (in flight), delayed, dead.
    pub async fn counts(&self, kind: &str) -> Result<SqsCounts, SqsError> {
        let url = self.url(&self.queue_name(kind)).await?;
        let dlq = self.url(&self.dead_letter_name(kind)).await?;
        let attrs = |url: String| {
            self.client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .send()
        };
        let (main, dead) = tokio::try_join!(attrs(url), attrs(dlq)).map_err(request_error)?;
        let get = |out: &aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput,
                   name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok(SqsCounts {
            visible: get(&main, QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: get(
                &main,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ),
            delayed: get(
                &main,
                QueueAttributeName::ApproximateNumberOfMessagesDelayed,
            ),
            dead: get(&dead, QueueAttributeName::ApproximateNumberOfMessages)
                + get(
                    &dead,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ),
        })
    }

    /// Looks at up to `limit` dead letters of `kind` without taking them
    /// (they stay in the dead-letter queue).
    pub async fn dead_letters(
        &self,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<SqsDeadLetter>, SqsError> {
        let url = self.url(&self.dead_letter_name(kind)).await?;
        let mut seen = HashMap::new();
        let mut receipts = Vec::new();
        // Each look hides what it saw so the next one sees others; three
        // looks of ten is plenty for a dashboard. Everything seen is made
        // visible again at the end.
        for _ in 0..3 {
            if seen.len() >= limit {
                break;
            }
            let out = self
                .client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(BATCH as i32)
                .visibility_timeout(30)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(request_error)?;
            let messages = out.messages();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                receipts.push(message.receipt_handle().unwrap_or_default().to_string());
                let id = message.message_id().unwrap_or_default().to_string();
                let attr = |name: &str| {
                    message
                        .message_attributes()
                        .and_then(|a| a.get(name))
                        .and_then(|v| v.string_value())
                        .map(str::to_string)
                };
                let letter = SqsDeadLetter {
                    id: id.clone(),
                    kind: kind.to_string(),
                    attempts: attr("attempts")
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(self.config.max_receives as i64),
                    error: attr("error").or_else(|| {
                        Some("moved by the redrive policy after too many receives".into())
                    }),
                    body: message.body().unwrap_or_default().to_string(),
                    organization: organization_of(message),
                };
                seen.entry(id).or_insert(letter);
            }
        }
        for receipt in receipts {
            self.show_again(&url, &receipt).await;
        }
        let mut letters: Vec<_> = seen.into_values().collect();
        letters.sort_by(|a, b| a.id.cmp(&b.id));
        letters.truncate(limit);
        Ok(letters)
    }

    /// Finds dead letter `id` of `kind` and either sends it back to its
    /// queue (`retry`) or deletes it. Returns false when it is not found,
    /// or belongs to an organization `tenant` does not reach.
    pub async fn settle_dead(
        &self,
        kind: &str,
        id: &str,
        retry: bool,
        tenant: crate::Tenant,
    ) -> Result<bool, SqsError> {
        let url = self.url(&self.dead_letter_name(kind)).await?;
        let mut others = Vec::new();
        let mut empty = 0;
        let found = loop {
            if empty >= 2 || others.len() > 1000 {
                break None;
            }
            let out = self
                .client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(BATCH as i32)
                .visibility_timeout(30)
                .wait_time_seconds(1)
                .message_attribute_names(ORGANIZATION)
                .send()
                .await
                .map_err(request_error)?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
                continue;
            }
            let mut hit = None;
            for message in messages {
                if hit.is_none()
                    && message.message_id() == Some(id)
                    && tenant.reaches(organization_of(&message))
                {
                    hit = Some(message);
                } else {
                    others.push(message.receipt_handle().unwrap_or_default().to_string());
                }
            }
            if hit.is_some() {
                break hit;
            }
        };
        // What was looked at but not wanted is visible again at once.
        for receipt in others {
            self.show_again(&url, &receipt).await;
        }
        let Some(message) = found else {
            return Ok(false);
        };
        if retry {
            let sent = self
                .send_batch(
                    kind,
                    &[Outgoing {
                        body: message.body().unwrap_or_default().to_string(),
                        dedup_key: Some(format!("retry-{id}")),
                        organization: organization_of(&message),
                    }],
                )
                .await?;
            if !sent.iter().all(|ok| *ok) {
                return Err(SqsError::Request("SQS refused the retried message".into()));
            }
        }
        self.client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(request_error)?;
        Ok(true)
    }

    async fn show_again(&self, url: &str, receipt: &str) {
        if let Err(err) = self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
        {
            tracing::warn!(error = %request_error(err), "could not make a dead letter visible again");
        }
    }

    /// A cheap round trip proving SQS answers.
    pub async fn ping(&self, kind: &str) -> Result<(), SqsError> {
        self.url(&self.queue_name(kind)).await.map(|_| ())
    }

    /// Moves a received message to the dead-letter queue with its error.
    async fn dead_letter(
        &self,
        kind: &str,
        url: &str,
        message: &aws_sdk_sqs::types::Message,
        attempts: u32,
        error: &str,
    ) -> Result<(), SqsError> {
        let dlq = self.url(&self.dead_letter_name(kind)).await?;
        let mut send = self
            .client
            .send_message()
            .queue_url(dlq)
            .message_body(message.body().unwrap_or_default())
            .message_attributes("error", text_attribute(error.chars().take(1000).collect())?)
            .message_attributes("attempts", text_attribute(attempts.to_string())?);
        if let Some(organization) = organization_of(message) {
            send = send.message_attributes(ORGANIZATION, text_attribute(organization.to_string())?);
        }
        if self.config.fifo {
            let id = message.message_id().unwrap_or_default().to_string();
            send = send
                .message_group_id(id.clone())
                .message_deduplication_id(id);
        }
        send.send().await.map_err(request_error)?;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .map_err(request_error)?;
        Ok(())
    }
}

/// What a worker reports as it goes, for counters kept elsewhere.
pub trait OutcomeSink: Send + Sync + 'static {
    fn succeeded(&self, kind: &'static str);
    fn failed(&self, failure: Failure<'_>);
}

/// One failed attempt of a job.
pub struct Failure<'a> {
    pub kind: &'static str,
    /// 1 for the first run.
    pub attempt: u32,
    /// Will not run again (dead-lettered).
    pub dead: bool,
    pub error: &'a str,
    /// The job's organization (its message attribute).
    pub organization: Option<i64>,
    /// The message body (the job's payload).
    pub body: &'a str,
}

/// Works jobs of kind `J` from SQS until `token` is cancelled: receives only
/// as many messages as there are free slots, runs each with a visibility
/// heartbeat, and settles it by its outcome. On cancellation it stops
/// receiving and waits for the jobs it holds.
pub(crate) async fn run_worker<J, H, Fut>(
    queue: SqsQueue,
    options: WorkerOptions,
    handler: H,
    outcomes: Arc<dyn OutcomeSink>,
    token: CancellationToken,
) where
    J: Job,
    H: Fn(J) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    let mut running = tokio::task::JoinSet::new();
    let Some(mut receiver) = Receiver::start::<J>(&queue, &token).await else {
        return;
    };
    let backoff = ExponentialBackoff::new(options.backoff_base, options.backoff_max);
    loop {
        // Wait for one free slot, then take every free one (up to a batch).
        let first = tokio::select! {
            () = token.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("semaphore open"),
        };
        let mut permits = vec![first];
        while permits.len() < BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let Some(messages) = receiver.receive::<J>(&queue, permits.len(), &token).await else {
            break;
        };
        for message in messages {
            let Some(permit) = permits.pop() else {
                break;
            };
            let (queue, url, handler, outcomes) = (
                queue.clone(),
                receiver.url.clone(),
                handler.clone(),
                outcomes.clone(),
            );
            let (backoff, visibility) = (backoff.clone(), receiver.visibility);
            running.spawn(async move {
                handle::<J, _, _>(
                    &queue, &url, message, handler, visibility, &backoff, &*outcomes,
                )
                .await;
                drop(permit);
            });
        }
        // Finished tasks' results are not needed; keep the set small.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// What a worker receives with: its queue's URL, how long a received
/// message stays hidden, and the pause after a failed receive (doubling
/// from 200 ms up to 10 s, back to 200 ms after a success).
struct Receiver {
    url: String,
    visibility: Duration,
    pause: Duration,
}

impl Receiver {
    /// Once `J`'s queue is found (waiting while SQS cannot be reached);
    /// `None` when `token` is cancelled first. Messages stay hidden for the
    /// job's timeout plus 10 s, within the configured visibility and at
    /// least 2 s.
    async fn start<J: Job>(queue: &SqsQueue, token: &CancellationToken) -> Option<Self> {
        let url = url_or_wait(queue, J::KIND, token).await?;
        let visibility = (J::TIMEOUT + Duration::from_secs(10))
            .min(queue.config.visibility)
            .max(Duration::from_secs(2));
        Some(Receiver {
            url,
            visibility,
            pause: Duration::from_millis(200),
        })
    }

    /// Up to `max` messages (a long poll of the configured wait), hidden
    /// for the visibility, with their receive count and organization;
    /// empty after a failed receive (and its pause). `None` when `token` is
    /// cancelled: the long poll is abandoned, and anything it had already
    /// taken becomes visible again after the visibility timeout.
    async fn receive<J: Job>(
        &mut self,
        queue: &SqsQueue,
        max: usize,
        token: &CancellationToken,
    ) -> Option<Vec<aws_sdk_sqs::types::Message>> {
        let receive = queue
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(queue.config.wait.as_secs().min(20) as i32)
            .visibility_timeout(self.visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(ORGANIZATION)
            .send();
        let out = tokio::select! {
            () = token.cancelled() => return None,
            out = receive => out,
        };
        match out {
            Ok(out) => {
                self.pause = Duration::from_millis(200);
                Some(out.messages.unwrap_or_default())
            }
            Err(err) => {
                tracing::warn!(kind = J::KIND, error = %request_error(err), "SQS receive failed");
                tokio::select! {
                    () = token.cancelled() => return None,
                    () = tokio::time::sleep(self.pause) => {}
                }
                self.pause = (self.pause * 2).min(Duration::from_secs(10));
                Some(Vec::new())
            }
        }
    }
}

/// The message's attempt: SQS's receive count (1 the first time).
fn attempt_of(message: &aws_sdk_sqs::types::Message) -> u32 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Reports a failed attempt of `message` to the outcome counters.
fn report_failure(
    outcomes: &dyn OutcomeSink,
    kind: &'static str,
    message: &aws_sdk_sqs::types::Message,
    dead: bool,
    error: &str,
) {
    outcomes.failed(Failure {
        kind,
        attempt: attempt_of(message),
        dead,
        error,
        organization: organization_of(message),
        body: message.body().unwrap_or_default(),
    })
}

/// The job in `message`'s body; a body that does not decode is dead at
/// once (reported and moved to the dead-letter queue) and gives `None`.
async fn decode<J: Job>(
    queue: &SqsQueue,
    url: &str,
    message: &aws_sdk_sqs::types::Message,
    outcomes: &dyn OutcomeSink,
) -> Option<J> {
    match serde_json::from_str::<J>(message.body().unwrap_or_default()) {
        Ok(job) => Some(job),
        Err(err) => {
            let error = format!("undecodable {} message: {err}", J::KIND);
            tracing::error!(kind = J::KIND, error, "dead-lettering at once");
            report_failure(outcomes, J::KIND, message, true, &error);
            if let Err(err) = queue
                .dead_letter(J::KIND, url, message, attempt_of(message), &error)
                .await
            {
                tracing::error!(kind = J::KIND, error = %err, "could not dead-letter; SQS will redrive it");
            }
            None
        }
    }
}

/// Keeps the messages of `receipts` hidden for `visibility` while their
/// job runs, every half of it, until dropped (and not a moment longer,
/// should the worker be dropped mid-job).
fn heartbeat<J: Job>(
    queue: &SqsQueue,
    url: &str,
    receipts: Vec<String>,
    visibility: Duration,
) -> crate::batch::AbortOnDrop {
    let (client, url) = (queue.client.clone(), url.to_string());
    crate::batch::AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(visibility / 2).await;
            let entries: Vec<_> = receipts
                .iter()
                .enumerate()
                .filter_map(|(i, receipt)| {
                    aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(visibility.as_secs() as i32)
                        .build()
                        .ok()
                })
                .collect();
            if let Err(err) = client
                .change_message_visibility_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                tracing::warn!(kind = J::KIND, error = %request_error(err), "visibility heartbeat failed");
            }
        }
    }))
}

/// What becomes of a message after its job ran.
enum Settle {
    /// Done: delete it.
    Delete,
    /// Failed, with attempts left: hide it for this many seconds (the
    /// backoff), after which the next receive is the next attempt.
    RetryIn(i32),
    /// Failed for good (or on its last attempt): to the dead-letter queue,
    /// with this error.
    Dead(String),
}

/// How to settle `message` after `result`, reported to the outcome
/// counters and logged; the same for single and batch workers.
fn settle<J: Job>(
    queue: &SqsQueue,
    message: &aws_sdk_sqs::types::Message,
    result: Result<(), JobError>,
    backoff: &ExponentialBackoff,
    outcomes: &dyn OutcomeSink,
) -> Settle {
    let attempt = attempt_of(message);
    let last_attempt = attempt as usize >= J::MAX_ATTEMPTS.min(queue.config.max_receives as usize);
    match result {
        Ok(()) => {
            outcomes.succeeded(J::KIND);
            Settle::Delete
        }
        Err(JobError::Retryable(error)) if !last_attempt => {
            tracing::warn!(kind = J::KIND, attempt, error, "job failed; will retry");
            report_failure(outcomes, J::KIND, message, false, &error);
            Settle::RetryIn(backoff.delay_after(attempt).as_secs().clamp(1, 12 * 3600) as i32)
        }
        Err(err) => {
            let error = err.to_string();
            tracing::error!(
                kind = J::KIND,
                attempt,
                error,
                "job failed for good; dead-lettered"
            );
            report_failure(outcomes, J::KIND, message, true, &error);
            Settle::Dead(error)
        }
    }
}

async fn handle<J, H, Fut>(
    queue: &SqsQueue,
    url: &str,
    message: aws_sdk_sqs::types::Message,
    handler: H,
    visibility: Duration,
    backoff: &ExponentialBackoff,
    outcomes: &dyn OutcomeSink,
) where
    J: Job,
    H: Fn(J) -> Fut,
    Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
{
    let receipt = message.receipt_handle().unwrap_or_default().to_string();
    let Some(job) = decode::<J>(queue, url, &message, outcomes).await else {
        return;
    };
    let heartbeat = heartbeat::<J>(queue, url, vec![receipt.clone()], visibility);
    let span = tracing::info_span!("job", kind = J::KIND, attempt = attempt_of(&message));
    let result = match tokio::time::timeout(J::TIMEOUT, handler(job).instrument(span)).await {
        Ok(result) => result,
        Err(_) => Err(JobError::Retryable(format!(
            "timed out after {}s",
            J::TIMEOUT.as_secs()
        ))),
    };
    drop(heartbeat);
    let settled = match settle::<J>(queue, &message, result, backoff, outcomes) {
        Settle::Delete => queue
            .client
            .delete_message()
            .queue_url(url)
            .receipt_handle(&receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(request_error),
        Settle::RetryIn(seconds) => queue
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(&receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(request_error),
        Settle::Dead(error) => {
            queue
                .dead_letter(J::KIND, url, &message, attempt_of(&message), &error)
                .await
        }
    };
    if let Err(err) = settled {
        // The message reappears after its visibility timeout and runs
        // again: handlers are idempotent.
        tracing::warn!(kind = J::KIND, error = %err, "could not settle an SQS message");
    }
}

/// The URL of kind `kind`'s queue, waiting (with growing pauses) while SQS
/// cannot be reached; `None` when `token` is cancelled first.
async fn url_or_wait(queue: &SqsQueue, kind: &str, token: &CancellationToken) -> Option<String> {
    let mut pause = Duration::from_millis(200);
    loop {
        match queue.url(&queue.queue_name(kind)).await {
            Ok(url) => return Some(url),
            Err(err) => {
                tracing::error!(kind, error = %err, "SQS queue unavailable; retrying");
                tokio::select! {
                    () = token.cancelled() => return None,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Works jobs of kind `J` from SQS in batches (see [`crate::batch`]): each
/// of `concurrency` slots receives up to `fetch_batch` (at most ten)
/// messages in one `ReceiveMessage`, hands the jobs to `handler` together
/// and settles each by its own outcome: the done ones in one
/// `DeleteMessageBatch`, the retried ones hidden for their backoff in one
/// `ChangeMessageVisibilityBatch`, the dead ones moved to the dead-letter
/// queue one by one. On cancellation it stops receiving and finishes the
/// batches it holds.
pub(crate) async fn run_batch_worker<J, H, Fut>(
    queue: SqsQueue,
    options: WorkerOptions,
    handler: H,
    outcomes: Arc<dyn OutcomeSink>,
    token: CancellationToken,
) where
    J: Job,
    H: Fn(Vec<J>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = crate::batch::Outcomes> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    let size = options.fetch_batch.clamp(1, BATCH);
    let mut running = tokio::task::JoinSet::new();
    let Some(mut receiver) = Receiver::start::<J>(&queue, &token).await else {
        return;
    };
    let backoff = ExponentialBackoff::new(options.backoff_base, options.backoff_max);
    loop {
        let permit = tokio::select! {
            () = token.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("semaphore open"),
        };
        let Some(messages) = receiver.receive::<J>(&queue, size, &token).await else {
            break;
        };
        if messages.is_empty() {
            continue;
        }
        let (queue, url, handler, outcomes, backoff) = (
            queue.clone(),
            receiver.url.clone(),
            handler.clone(),
            outcomes.clone(),
            backoff.clone(),
        );
        let visibility = receiver.visibility;
        running.spawn(async move {
            handle_batch::<J, _, _>(
                &queue, &url, messages, &handler, visibility, &backoff, &*outcomes,
            )
            .await;
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn handle_batch<J, H, Fut>(
    queue: &SqsQueue,
    url: &str,
    messages: Vec<aws_sdk_sqs::types::Message>,
    handler: &H,
    visibility: Duration,
    backoff: &ExponentialBackoff,
    outcomes: &dyn OutcomeSink,
) where
    J: Job,
    H: Fn(Vec<J>) -> Fut,
    Fut: std::future::Future<Output = crate::batch::Outcomes> + Send + 'static,
{
    // Decode; an undecodable message is dead at once, alone.
    let mut kept = Vec::with_capacity(messages.len());
    let mut jobs = Vec::with_capacity(messages.len());
    for message in messages {
        if let Some(job) = decode::<J>(queue, url, &message, outcomes).await {
            jobs.push(job);
            kept.push(message);
        }
    }
    if jobs.is_empty() {
        return;
    }
    let receipts: Vec<String> = kept
        .iter()
        .map(|m| m.receipt_handle().unwrap_or_default().to_string())
        .collect();
    // Keep the whole batch hidden while it runs.
    let heartbeat = heartbeat::<J>(queue, url, receipts.clone(), visibility);
    let n = jobs.len();
    let span = tracing::info_span!("job_batch", kind = J::KIND, size = n);
    let results = match tokio::time::timeout(J::TIMEOUT, handler(jobs).instrument(span)).await {
        Ok(results) => results,
        Err(_) => crate::batch::all_failed(
            n,
            &JobError::Retryable(format!("batch timed out after {}s", J::TIMEOUT.as_secs())),
        ),
    };
    drop(heartbeat);
    let mut results = results.into_iter();
    let mut deletes = Vec::new();
    let mut retries = Vec::new();
    for (i, message) in kept.iter().enumerate() {
        let result = results.next().unwrap_or_else(|| {
            Err(JobError::Retryable(
                "the batch handler gave no outcome for this job".into(),
            ))
        });
        match settle::<J>(queue, message, result, backoff, outcomes) {
            Settle::Delete => deletes.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&receipts[i])
                    .build(),
            ),
            Settle::RetryIn(seconds) => retries.push(
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&receipts[i])
                    .visibility_timeout(seconds)
                    .build(),
            ),
            Settle::Dead(error) => {
                if let Err(err) = queue
                    .dead_letter(J::KIND, url, message, attempt_of(message), &error)
                    .await
                {
                    tracing::warn!(kind = J::KIND, error = %err, "could not dead-letter; SQS will redrive it");
                }
            }
        }
    }
    // A message not settled reappears after its visibility timeout and
    // runs again: handlers are idempotent.
    let deletes: Vec<_> = deletes.into_iter().filter_map(Result::ok).collect();
    if !deletes.is_empty() {
        match queue
            .client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(deletes))
            .send()
            .await
        {
            Ok(out) => {
                for failed in out.failed() {
                    tracing::warn!(kind = J::KIND, code = failed.code(), message = ?failed.message(), "SQS did not delete a done message");
                }
            }
            Err(err) => {
                tracing::warn!(kind = J::KIND, error = %request_error(err), "could not delete done messages")
            }
        }
    }
    let retries: Vec<_> = retries.into_iter().filter_map(Result::ok).collect();
    if !retries.is_empty()
        && let Err(err) = queue
            .client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(retries))
            .send()
            .await
    {
        tracing::warn!(kind = J::KIND, error = %request_error(err), "could not delay retried messages");
    }
}
