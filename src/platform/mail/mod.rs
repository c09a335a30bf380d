//! Transactional email: messages rendered with maud (HTML and a text part),
//! stored with a key and sent by the `EmailSend` job through Mailgun or, by
//! default, into the development mailbox (`/dev/mailbox`).
//!
//! At most once per key: the message row is written (once per key) in the
//! caller's transaction with its job; a run of the job first claims the row,
//! and only the run that claimed it sends. A failure worth retrying (429,
//! 5xx, network) releases the claim for the next attempt; any other refusal
//! is permanent. A crash between claim and send loses that one message
//! rather than ever sending it twice.

use std::time::Duration;

use ::jobs::{Job, JobError, Queue};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::{
    on_pool, on_tx,
    platform::{
        config::{MailSettings, Token},
        db::{self, Pool, Tx},
    },
};

/// A message ready to store and send.
#[derive(Debug, Clone)]
pub struct Email {
    /// Unique per message: the same key is never sent twice.
    pub key: String,
    pub organization_id: Option<i64>,
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The job that sends the stored message with this key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailSend {
    pub key: String,
    /// The organization the message is sent for (an invitation's, a
    /// verification's); `None` for a person's own password reset. Its
    /// owners and admins see the job if it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<i64>,
}

impl Job for EmailSend {
    const KIND: &'static str = "rally.email_send";
    const MAX_ATTEMPTS: usize = 8;
    const TIMEOUT: Duration = Duration::from_secs(30);

    fn idempotency_key(&self) -> Option<String> {
        Some(self.key.clone())
    }

    fn organization(&self) -> Option<i64> {
        self.organization_id
    }
}

/// Stores `email` and its job in the caller's transaction: nothing is sent
/// unless the caller commits, and a key already stored is left as it was.
pub async fn queue(tx: &mut Tx, queue: &Queue, email: &Email) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO emails (key, organization_id, to_addr, subject, html, text, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&email.key)
    .bind(email.organization_id)
    .bind(&email.to)
    .bind(&email.subject)
    .bind(&email.html)
    .bind(&email.text)
    .bind(db::now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    queue
        .enqueue_all_in(
            tx.queue_conn(),
            &[EmailSend {
                key: email.key.clone(),
                organization_id: email.organization_id,
            }],
        )
        .await?;
    Ok(())
}

/// Where messages go.
#[derive(Clone)]
pub enum Mailer {
    /// Stored only; each person reads the messages to their own address at
    /// `/dev/mailbox`.
    Mailbox,
    Mailgun {
        client: reqwest::Client,
        /// `https://api.mailgun.net/v3/DOMAIN/messages` or the EU one.
        endpoint: String,
        api_key: Token,
        from: String,
    },
}

impl Mailer {
    pub fn from_settings(mail: &MailSettings) -> Self {
        match (&mail.mailgun_api_key, &mail.mailgun_domain) {
            (Some(api_key), Some(domain)) => Self::Mailgun {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap_or_default(),
                endpoint: format!(
                    "{}/v3/{domain}/messages",
                    mail.mailgun_base_url.trim_end_matches('/')
                ),
                api_key: api_key.clone(),
                from: mail.from.clone(),
            },
            _ => Self::Mailbox,
        }
    }

    pub fn is_mailbox(&self) -> bool {
        matches!(self, Self::Mailbox)
    }
}

#[derive(sqlx::FromRow)]
struct Stored {
    to_addr: String,
    subject: String,
    html: String,
    text: String,
}

/// The `EmailSend` handler.
pub async fn send(pool: &Pool, mailer: &Mailer, job: EmailSend) -> Result<(), JobError> {
    let now = db::now_ms();
    let claimed: Option<Stored> = on_pool!(pool, p => sqlx::query_as(
        "UPDATE emails SET claimed_at = $2 WHERE key = $1 AND claimed_at IS NULL AND sent_at IS NULL
         RETURNING to_addr, subject, html, text",
    )
    .bind(&job.key)
    .bind(now)
    .fetch_optional(p)
    .await)
    .map_err(JobError::retryable)?;
    let Some(message) = claimed else {
        tracing::info!(key = job.key, "email already sent or being sent; skipped");
        return Ok(());
    };
    let outcome = match mailer {
        Mailer::Mailbox => Ok(None),
        Mailer::Mailgun {
            client,
            endpoint,
            api_key,
            from,
        } => mailgun(client, endpoint, api_key, from, &message).await,
    };
    match outcome {
        Ok(provider_id) => {
            on_pool!(pool, p => sqlx::query(
                "UPDATE emails SET sent_at = $2, provider_id = $3, error = NULL WHERE key = $1",
            )
            .bind(&job.key)
            .bind(db::now_ms())
            .bind(provider_id)
            .execute(p)
            .await
            .map(|_| ()))
            .map_err(JobError::retryable)?;
            Ok(())
        }
        Err(failure) => {
            let retry = matches!(failure, JobError::Retryable(_));
            // A refusal worth retrying gives the claim back for the next
            // attempt; a permanent one keeps it, so nothing sends it later.
            let release = if retry { None } else { Some(now) };
            let error = failure.to_string();
            on_pool!(pool, p => sqlx::query("UPDATE emails SET claimed_at = $2, error = $3 WHERE key = $1")
                .bind(&job.key)
                .bind(release)
                .bind(&error)
                .execute(p)
                .await
                .map(|_| ()))
            .map_err(JobError::retryable)?;
            Err(failure)
        }
    }
}

async fn mailgun(
    client: &reqwest::Client,
    endpoint: &str,
    api_key: &Token,
    from: &str,
    message: &Stored,
) -> Result<Option<String>, JobError> {
    let form = [
        ("from", from),
        ("to", message.to_addr.as_str()),
        ("subject", message.subject.as_str()),
        ("text", message.text.as_str()),
        ("html", message.html.as_str()),
    ];
    let res = client
        .post(endpoint)
        .basic_auth("api", Some(&api_key.0))
        .form(&form)
        .send()
        .await
        .map_err(|e| JobError::retryable(format!("Mailgun unreachable: {e}")))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    let detail: String = body.chars().take(300).collect();
    if status.is_success() {
        let id = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string));
        Ok(id)
    } else if status.as_u16() == 429 || status.is_server_error() {
        Err(JobError::retryable(format!(
            "Mailgun answered {status}: {detail}"
        )))
    } else {
        Err(JobError::permanent(format!(
            "Mailgun refused the message ({status}): {detail}"
        )))
    }
}

/// A message in the development mailbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailboxEntry {
    pub id: i64,
    pub to_addr: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// The messages sent to user `user_id`'s own address, newest first,
/// whatever organization sent them. The development mailbox shows only
/// these: a reset link, a verification or an invitation is for its
/// recipient's eyes, never for an admin of the organization (who could
/// take the account over with it), nor for another organization. The one
/// exception is the person's own request to change their address: its
/// confirmation goes to the new address, which is not theirs yet, and
/// is shown to them (its key starts [`email_change_key_prefix`]).
pub async fn mailbox(pool: &Pool, user_id: i64, limit: i64) -> sqlx::Result<Vec<MailboxEntry>> {
    let own_change = format!("{}%", email_change_key_prefix(user_id));
    on_pool!(pool, p => sqlx::query_as(
        "SELECT e.id, e.to_addr, e.subject, e.html, e.text, e.created_at, e.sent_at
         FROM emails e, users u
         WHERE u.id = $1 AND (lower(e.to_addr) = lower(u.email) OR e.key LIKE $3)
         ORDER BY e.id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .bind(own_change)
    .fetch_all(p)
    .await)
}

/// The start of the key of every email-change confirmation user `user_id`
/// asked for (`email-change-{user_id}-`).
pub fn email_change_key_prefix(user_id: i64) -> String {
    format!("email-change-{user_id}-")
}

pub(crate) fn message(
    key: String,
    organization_id: Option<i64>,
    to: &str,
    subject: &str,
    body: Markup,
    text: String,
) -> Email {
    let html = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (subject) } }
            body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1d1d1f; max-width: 36rem; margin: 0 auto; padding: 1.5rem;" {
                p style="font-weight: 700; color: #3b5bdb;" { "Rally" }
                (body)
                p style="color: #6e6e73; font-size: .9rem;" { "You received this because someone used this address on Rally. If it was not you, ignore this message." }
            }
        }
    };
    Email {
        key,
        organization_id,
        to: to.to_string(),
        subject: subject.to_string(),
        html: html.into_string(),
        text,
    }
}

fn button(link: &str, label: &str) -> Markup {
    html! {
        p { a href=(link) style="display: inline-block; background: #3b5bdb; color: #fff; padding: .6rem 1rem; border-radius: .4rem; text-decoration: none;" { (label) } }
        p style="font-size: .9rem;" { "Or open this address: " br; (link) }
    }
}

/// "Confirm your email address".
pub fn verification(key: String, organization_id: i64, to: &str, name: &str, link: &str) -> Email {
    let subject = "Confirm your email address";
    let body = html! {
        p { "Hi " (name) "," }
        p { "Confirm that this is your email address to finish setting up Rally." }
        (button(link, "Confirm my email"))
        p { "The link works for 48 hours." }
    };
    let text = format!(
        "Hi {name},\n\nConfirm that this is your email address to finish setting up Rally:\n\n{link}\n\nThe link works for 48 hours.\n"
    );
    message(key, Some(organization_id), to, subject, body, text)
}

/// "Reset your password".
pub fn password_reset(
    key: String,
    organization_id: Option<i64>,
    to: &str,
    name: &str,
    link: &str,
) -> Email {
    let subject = "Reset your Rally password";
    let body = html! {
        p { "Hi " (name) "," }
        p { "Someone asked to reset the password of your Rally account. Choose a new one here:" }
        (button(link, "Choose a new password"))
        p { "The link works for one hour and only once. If you did not ask, your password stays as it is." }
    };
    let text = format!(
        "Hi {name},\n\nSomeone asked to reset the password of your Rally account. Choose a new one here:\n\n{link}\n\nThe link works for one hour and only once. If you did not ask, your password stays as it is.\n"
    );
    message(key, organization_id, to, subject, body, text)
}

/// "You are invited to join …".
pub fn invitation(
    key: String,
    organization_id: i64,
    to: &str,
    inviter: &str,
    organization: &str,
    role: &str,
    link: &str,
) -> Email {
    let subject = format!("{inviter} invited you to {organization} on Rally");
    let body = html! {
        p { "Hello," }
        p { (inviter) " invited you to join " strong { (organization) } " on Rally as " (role) "." }
        (button(link, "Accept the invitation"))
        p { "The invitation works for seven days." }
    };
    let text = format!(
        "Hello,\n\n{inviter} invited you to join {organization} on Rally as {role}. Accept the invitation here:\n\n{link}\n\nThe invitation works for seven days.\n"
    );
    message(key, Some(organization_id), to, &subject, body, text)
}

/// "Confirm your new email address": sent to the new address; the
/// account's address changes when the link is opened.
pub fn email_change(
    key: String,
    organization_id: Option<i64>,
    to: &str,
    name: &str,
    link: &str,
) -> Email {
    let subject = "Confirm your new email address for Rally";
    let body = html! {
        p { "Hi " (name) "," }
        p { "You asked to use this address for your Rally account. Confirm it here; until you do, your account keeps its old address." }
        (button(link, "Use this address"))
        p { "The link works for 24 hours. If you did not ask, ignore this message: nothing changes." }
    };
    let text = format!(
        "Hi {name},\n\nYou asked to use this address for your Rally account. Confirm it here; until you do, your account keeps its old address:\n\n{link}\n\nThe link works for 24 hours. If you did not ask, ignore this message: nothing changes.\n"
    );
    message(key, organization_id, to, subject, body, text)
}

/// "Your email address was changed": sent to the old address once the
/// change is made, naming the new one.
pub fn email_changed(
    key: String,
    organization_id: Option<i64>,
    to: &str,
    name: &str,
    new_address: &str,
) -> Email {
    let subject = "Your Rally email address was changed";
    let body = html! {
        p { "Hi " (name) "," }
        p { "Your Rally account now uses " strong { (new_address) } " instead of this address. Rally will write to you there from now on." }
        p { "If you did not make this change, tell your organization's owner at once." }
    };
    let text = format!(
        "Hi {name},\n\nYour Rally account now uses {new_address} instead of this address. Rally will write to you there from now on.\n\nIf you did not make this change, tell your organization's owner at once.\n"
    );
    message(key, organization_id, to, subject, body, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_both_parts_and_escape_names() {
        let email = verification(
            "k".into(),
            1,
            "a@example.com",
            "<Ana>",
            "https://rally.test/verify?token=abc",
        );
        assert!(email.html.contains("&lt;Ana&gt;") && !email.html.contains("<Ana>"));
        assert!(email.html.contains("https://rally.test/verify?token=abc"));
        assert!(email.text.contains("https://rally.test/verify?token=abc"));
        assert!(email.text.contains("<Ana>"), "the text part is plain text");
    }
}
