//! The account's settings on `/account`: change the password, change the
//! email address (confirmed by a link mailed to the new address), delete
//! the account.
//!
//! - Password: the current one is required; the new one follows sign-up's
//!   rule ([`password_problem`]) and is typed twice. Every session ends
//!   (and every password-reset link), then this browser gets a new one.
//!   Audited in each of the person's organizations.
//! - Email: the current password is required; the new address is
//!   normalised as at sign-up ([`EmailAddress::parse`]) and refused when
//!   another account uses it. Nothing changes until the link mailed to
//!   the new address is opened and confirmed (`/account/email/confirm`):
//!   a signed token ([`EmailChangeToken`]) valid 24 hours that stops
//!   working once the address or the password changes. The old address
//!   then gets a notice. Audited.
//! - Delete: the password is typed again. Refused while the person owns
//!   an organization where others work (they hand it over at `/people`
//!   first) or a franchise HQ with locations. An organization where they
//!   are the only member is deleted with them, everything in it, as the
//!   page says beforehand (never a franchise location: that is its HQ's); from the others they leave (audited there),
//!   their prospects becoming unassigned. Their personal data is erased
//!   ([`crate::accounts::queries::erase_user`]) and every session ends.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query, cookie::CookieJar},
};
use serde::Deserialize;

use crate::{
    accounts::{
        auth::{self, CurrentUser},
        queries::{self as accounts, EmailChangeError, User},
        routes::{Problems, password_problem, public_base},
        views as pages,
    },
    app::AppState,
    organizations::{queries as organizations, roles::Role},
    platform::{
        config::SecretKey,
        db::now_ms,
        error::{AppError, AppResult},
        mail as email, security,
        text::Email as EmailAddress,
        web::{HASHING_BUSY, form_again, html_response, retry_later, see_other},
    },
};

/// How long an email-change link works.
pub const EMAIL_CHANGE_TTL: Duration = Duration::from_secs(24 * 3600);

/// What the settings forms send back when refused: the address typed
/// (passwords are never sent back) and each field's message. Fields:
/// `current_password`, `new_password`, `confirm_password` (password form),
/// `new_email`, `email_password` (email form), `delete_password`, `delete`
/// (delete form).
#[derive(Debug, Default)]
pub struct SettingsForms {
    pub new_email: String,
    pub problems: Problems,
}

/// What deleting the account would do with each organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The person leaves; the organization goes on.
    Leave,
    /// The person is its only member: it is deleted with them.
    DeleteWith { prospects: i64 },
    /// They own it and others work there: ownership must go first.
    HandOver,
    /// A franchise HQ with locations.
    HqWithLocations,
}

impl Outcome {
    /// Whether this outcome stops the deletion.
    pub fn blocks(&self) -> bool {
        matches!(self, Outcome::HandOver | Outcome::HqWithLocations)
    }
}

/// The rule: what deleting the account does to an organization held so.
/// A franchise location is its HQ's: its people leave it, it stays.
pub fn outcome(holding: &organizations::Holding) -> Outcome {
    if holding.is_location {
        Outcome::Leave
    } else if holding.locations > 0 && (holding.role == Role::Owner || holding.others == 0) {
        Outcome::HqWithLocations
    } else if holding.others == 0 {
        Outcome::DeleteWith {
            prospects: holding.prospects,
        }
    } else if holding.role == Role::Owner {
        Outcome::HandOver
    } else {
        Outcome::Leave
    }
}

/// A signed email-change link's token:
/// `{user_id}.{expires_ms}.{base64url(new_email)}.{signature}`. The
/// signature (HMAC with the app's key) also covers the account's address
/// and a digest of its password hash at the time, so the link is refused
/// once either has changed: it changes the address once, and a password
/// change withdraws it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChangeToken {
    pub user_id: i64,
    pub expires_at: i64,
    pub new_email: String,
}

const EMAIL_CHANGE_PURPOSE: &str = "email-change";

impl EmailChangeToken {
    fn signed_message(&self, current_email: &str, password_hash: &str) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.user_id,
            self.expires_at,
            self.new_email,
            current_email,
            security::sha256_hex(password_hash)
        )
    }

    /// The token for `user` (as stored now).
    pub fn sign(&self, key: &SecretKey, user: &User) -> String {
        let signature = security::sign(
            key,
            EMAIL_CHANGE_PURPOSE,
            &self.signed_message(&user.email, &user.password_hash),
        );
        format!(
            "{}.{}.{}.{signature}",
            self.user_id,
            self.expires_at,
            URL_SAFE_NO_PAD.encode(&self.new_email)
        )
    }

    /// The token's claims, unchecked (the signature needs the account).
    fn parse(token: &str) -> Option<(Self, &str)> {
        let mut parts = token.split('.');
        let user_id = parts.next()?.parse().ok()?;
        let expires_at = parts.next()?.parse().ok()?;
        let new_email = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
        let signature = parts.next()?;
        parts.next().is_none().then_some((
            Self {
                user_id,
                expires_at,
                new_email,
            },
            signature,
        ))
    }

    /// The claims of `token` and its account, if the token is genuine, not
    /// expired at `now` (ms), and made for the account as it is now.
    pub async fn check(state: &AppState, token: &str, now: i64) -> AppResult<Option<(Self, User)>> {
        let Some((claims, signature)) = Self::parse(token) else {
            return Ok(None);
        };
        if claims.expires_at <= now {
            return Ok(None);
        }
        let Some(user) = accounts::user_by_id(&state.db.read, claims.user_id).await? else {
            return Ok(None);
        };
        let genuine = security::verify(
            &state.secret,
            EMAIL_CHANGE_PURPOSE,
            &claims.signed_message(&user.email, &user.password_hash),
            signature,
        );
        Ok(genuine.then_some((claims, user)))
    }
}

/// The account page with the settings forms as sent, 422.
async fn again(state: &AppState, user: &CurrentUser, forms: SettingsForms) -> AppResult<Response> {
    let preferences = crate::notifications::routes::section(state, user, None, &[]).await?;
    Ok(form_again(
        crate::accounts::routes::page_with(state, user, None, preferences, &forms).await?,
    ))
}

/// Checks `password` against the signed-in person's, after their
/// allowance of attempts. `Err` is the answer to give (the form again).
async fn current_password_ok(
    req: &Request,
    state: &AppState,
    user: &CurrentUser,
    account: &User,
    password: &str,
    field: &'static str,
    forms: impl FnOnce() -> SettingsForms,
) -> AppResult<Result<(), Response>> {
    let ip = state.rate_limits.client_ip(req);
    if let Err(wait) = state
        .signin_throttle
        .check_account_from(ip, &format!("settings:{}", account.id))
    {
        let mut forms = forms();
        forms
            .problems
            .push((field, "Too many attempts. Wait a minute, then try again."));
        return Ok(Err(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            again(state, user, forms).await?,
        )));
    }
    if password.is_empty() || password.len() > 1024 {
        let mut forms = forms();
        forms.problems.push((
            field,
            if password.is_empty() {
                "Please enter your current password."
            } else {
                "That is not your current password."
            },
        ));
        return Ok(Err(again(state, user, forms).await?));
    }
    match state
        .hasher
        .verify(password.to_string(), account.password_hash.clone())
        .await
    {
        Ok(true) => Ok(Ok(())),
        Ok(false) => {
            let mut forms = forms();
            forms
                .problems
                .push((field, "That is not your current password."));
            Ok(Err(again(state, user, forms).await?))
        }
        Err(security::HashError::Busy) => {
            let mut forms = forms();
            forms.problems.push((field, HASHING_BUSY));
            Ok(Err(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                security::BUSY_RETRY_AFTER,
                again(state, user, forms).await?,
            )))
        }
        Err(err) => Err(err.into()),
    }
}

/// Writes `action` about the person to the audit log of each of their
/// organizations.
async fn audit_everywhere(
    tx: &mut crate::platform::db::Tx,
    organization_ids: &[i64],
    user_id: i64,
    action: &str,
    detail: &str,
) -> AppResult<()> {
    for org in organization_ids {
        organizations::audit(tx, *org, Some(user_id), action, Some(user_id), detail).await?;
    }
    Ok(())
}

async fn organization_ids(state: &AppState, user_id: i64) -> AppResult<Vec<i64>> {
    Ok(accounts::memberships_of(&state.db.read, user_id)
        .await?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect())
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /account/password`: a new password, the current one given.
#[handler]
pub async fn change_password(
    req: &Request,
    jar: &CookieJar,
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let mut problems: Problems = Vec::new();
    if let Some(msg) = password_problem(&form.new_password) {
        problems.push(("new_password", msg));
    } else if form.new_password != form.confirm_password {
        problems.push(("confirm_password", "The two passwords are not the same."));
    } else if form.new_password == form.current_password {
        problems.push((
            "new_password",
            "That is your current password: choose another one.",
        ));
    }
    if form.current_password.is_empty() {
        problems.push(("current_password", "Please enter your current password."));
    }
    if !problems.is_empty() {
        let forms = SettingsForms {
            problems,
            ..SettingsForms::default()
        };
        return again(&state, &user, forms).await;
    }
    let account = accounts::user_by_id(&state.db.read, user.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(answer) = current_password_ok(
        req,
        &state,
        &user,
        &account,
        &form.current_password,
        "current_password",
        SettingsForms::default,
    )
    .await?
    {
        return Ok(answer);
    }
    let hash = match state.hasher.hash(form.new_password.clone()).await {
        Ok(hash) => hash,
        Err(security::HashError::Busy) => {
            let forms = SettingsForms {
                problems: vec![("new_password", HASHING_BUSY)],
                ..SettingsForms::default()
            };
            return Ok(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                security::BUSY_RETRY_AFTER,
                again(&state, &user, forms).await?,
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let orgs = organization_ids(&state, account.id).await?;
    let mut tx = state.db.write.begin_write().await?;
    // Every session ends, this one too; this browser gets a new one below.
    accounts::set_password(&mut tx, account.id, &hash).await?;
    audit_everywhere(&mut tx, &orgs, account.id, "password_changed", "").await?;
    tx.commit().await?;
    tracing::info!(user_id = account.id, "password changed");
    auth::start_session(req, jar, &state, account.id).await?;
    Ok(see_other("/account?done=password"))
}

#[derive(Debug, Default, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/email`: mails a confirmation link to the new address.
#[handler]
pub async fn change_email(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<EmailForm>,
) -> AppResult<Response> {
    let forms = |problems: Problems| SettingsForms {
        new_email: form.new_email.clone(),
        problems,
    };
    let account = accounts::user_by_id(&state.db.read, user.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut problems: Problems = Vec::new();
    let new_email = EmailAddress::parse(&form.new_email);
    match &new_email {
        Err(msg) => problems.push(("new_email", *msg)),
        Ok(e) if e.as_str() == account.email => {
            problems.push(("new_email", "That is already your address."))
        }
        Ok(e) => {
            if accounts::user_by_email(&state.db.read, e.as_str())
                .await?
                .is_some()
            {
                problems.push((
                    "new_email",
                    "Another account already uses this address. Choose another one.",
                ));
            }
        }
    }
    if form.password.is_empty() {
        problems.push(("email_password", "Please enter your current password."));
    }
    let (Ok(new_email), true) = (new_email, problems.is_empty()) else {
        return again(&state, &user, forms(problems)).await;
    };
    if let Err(answer) = current_password_ok(
        req,
        &state,
        &user,
        &account,
        &form.password,
        "email_password",
        || forms(Vec::new()),
    )
    .await?
    {
        return Ok(answer);
    }
    let claims = EmailChangeToken {
        user_id: account.id,
        expires_at: now_ms() + EMAIL_CHANGE_TTL.as_millis() as i64,
        new_email: new_email.as_str().to_string(),
    };
    let token = claims.sign(&state.secret, &account);
    let link = format!(
        "{}/account/email/confirm?token={token}",
        public_base(req, &state)
    );
    let message = email::email_change(
        format!(
            "{}{}",
            email::email_change_key_prefix(account.id),
            &security::sha256_hex(&token)[..24]
        ),
        Some(user.user.organization_id),
        new_email.as_str(),
        &account.name,
        &link,
    );
    let mut tx = state.db.write.begin_write().await?;
    email::queue(&mut tx, &state.queue, &message).await?;
    tx.commit().await?;
    tracing::info!(user_id = account.id, "email change asked");
    let query = serde_urlencoded::to_string([("sent_to", new_email.as_str())]).unwrap_or_default();
    Ok(see_other(&format!("/account?{query}")))
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn invalid_email_link() -> Response {
    html_response(
        StatusCode::BAD_REQUEST,
        pages::notice(
            "Link not valid",
            "This link is not valid any more: it expired, was used already, or your address or password changed since. Ask for a new one on your account page.",
        ),
    )
}

/// `GET /account/email/confirm?token=…`: the change, to confirm with a
/// button (a mail scanner opening the link changes nothing).
#[handler]
pub async fn confirm_email_page(
    state: Data<&AppState>,
    Query(q): Query<TokenQuery>,
) -> AppResult<Response> {
    let Some((claims, user)) = EmailChangeToken::check(&state, &q.token, now_ms()).await? else {
        return Ok(invalid_email_link());
    };
    Ok(html_response(
        StatusCode::OK,
        pages::confirm_email_change(&q.token, &user.email, &claims.new_email, None),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    token: String,
}

/// `POST /account/email/confirm`: changes the address, notifies the old one.
#[handler]
pub async fn confirm_email(
    state: Data<&AppState>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let Some((claims, user)) = EmailChangeToken::check(&state, &form.token, now_ms()).await? else {
        return Ok(invalid_email_link());
    };
    let orgs = organization_ids(&state, user.id).await?;
    let mut tx = state.db.write.begin_write().await?;
    match accounts::change_email(&mut tx, user.id, &user.email, &claims.new_email).await {
        Ok(()) => {}
        Err(EmailChangeError::Taken) => {
            tx.rollback().await?;
            return Ok(html_response(
                StatusCode::CONFLICT,
                pages::confirm_email_change(
                    &form.token,
                    &user.email,
                    &claims.new_email,
                    Some(
                        "Another account started using this address since you asked: your address stays as it was. Choose another one on your account page.",
                    ),
                ),
            ));
        }
        Err(EmailChangeError::Stale) => {
            tx.rollback().await?;
            return Ok(invalid_email_link());
        }
        Err(EmailChangeError::Database(err)) => return Err(err.into()),
    }
    audit_everywhere(
        &mut tx,
        &orgs,
        user.id,
        "email_changed",
        &crate::platform::text::display_email(&claims.new_email),
    )
    .await?;
    let notice = email::email_changed(
        format!(
            "email-changed-{}-{}",
            user.id,
            &security::sha256_hex(&form.token)[..24]
        ),
        orgs.first().copied(),
        &user.email,
        &user.name,
        &crate::platform::text::display_email(&claims.new_email),
    );
    email::queue(&mut tx, &state.queue, &notice).await?;
    tx.commit().await?;
    tracing::info!(user_id = user.id, "email changed");
    Ok(html_response(
        StatusCode::OK,
        pages::notice(
            "Email address changed",
            "Your account now uses the new address: sign in with it from now on.",
        ),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    password: String,
}

/// `POST /account/delete`: deletes the account (see the module's doc).
#[handler]
pub async fn delete_account(
    req: &Request,
    jar: &CookieJar,
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<DeleteForm>,
) -> AppResult<Response> {
    let holdings = organizations::holdings(&state.db.read, user.user.user_id).await?;
    if holdings.iter().any(|h| outcome(h).blocks()) {
        let forms = SettingsForms {
            problems: vec![(
                "delete",
                "Your account cannot be deleted yet: see what to do first, below.",
            )],
            ..SettingsForms::default()
        };
        return again(&state, &user, forms).await;
    }
    let account = accounts::user_by_id(&state.db.read, user.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(answer) = current_password_ok(
        req,
        &state,
        &user,
        &account,
        &form.password,
        "delete_password",
        SettingsForms::default,
    )
    .await?
    {
        return Ok(answer);
    }
    // A hash of a secret nobody holds: the row can never be signed in to.
    let unusable = match state.hasher.hash(security::random_token()).await {
        Ok(hash) => hash,
        Err(security::HashError::Busy) => {
            let forms = SettingsForms {
                problems: vec![("delete_password", HASHING_BUSY)],
                ..SettingsForms::default()
            };
            return Ok(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                security::BUSY_RETRY_AFTER,
                again(&state, &user, forms).await?,
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let mut tx = state.db.write.begin_write().await?;
    // Checked again inside the write: someone may have joined meanwhile.
    for holding in &holdings {
        match outcome(holding) {
            Outcome::Leave => {
                organizations::audit(
                    &mut tx,
                    holding.organization_id,
                    Some(account.id),
                    "account_deleted",
                    Some(account.id),
                    "",
                )
                .await?;
            }
            Outcome::DeleteWith { .. } => {
                if organizations::other_members(&mut tx, holding.organization_id, account.id)
                    .await?
                    > 0
                {
                    tx.rollback().await?;
                    return again(
                        &state,
                        &user,
                        SettingsForms {
                            problems: vec![(
                                "delete",
                                "Someone joined one of your organizations meanwhile: look again below.",
                            )],
                            ..SettingsForms::default()
                        },
                    )
                    .await;
                }
                organizations::delete_organization(&mut tx, holding.organization_id).await?;
            }
            Outcome::HandOver | Outcome::HqWithLocations => unreachable!("checked above"),
        }
    }
    accounts::erase_user(&mut tx, account.id, &unusable).await?;
    tx.commit().await?;
    tracing::info!(
        user_id = account.id,
        organizations_deleted = holdings
            .iter()
            .filter(|h| matches!(outcome(h), Outcome::DeleteWith { .. }))
            .count(),
        "account deleted"
    );
    auth::clear_session_cookie(jar);
    Ok(html_response(
        StatusCode::OK,
        pages::notice(
            "Account deleted",
            "Your account is deleted and you are signed out everywhere. Thank you for using Rally.",
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(role: Role, others: i64, locations: i64) -> organizations::Holding {
        organizations::Holding {
            organization_id: 1,
            name: "Acme".into(),
            role,
            others,
            locations,
            prospects: 3,
            is_location: false,
        }
    }

    #[test]
    fn owners_hand_over_first_and_solo_organizations_go_with_their_person() {
        assert_eq!(outcome(&holding(Role::Owner, 2, 0)), Outcome::HandOver);
        assert_eq!(
            outcome(&holding(Role::Owner, 0, 0)),
            Outcome::DeleteWith { prospects: 3 }
        );
        assert_eq!(outcome(&holding(Role::Member, 4, 0)), Outcome::Leave);
        assert_eq!(outcome(&holding(Role::Admin, 1, 0)), Outcome::Leave);
        assert_eq!(
            outcome(&holding(Role::Owner, 0, 2)),
            Outcome::HqWithLocations
        );
        // A location stays with its HQ even when its last person leaves.
        let location = organizations::Holding {
            is_location: true,
            ..holding(Role::Admin, 0, 0)
        };
        assert_eq!(outcome(&location), Outcome::Leave);
        assert!(outcome(&holding(Role::Owner, 2, 0)).blocks());
        assert!(!outcome(&holding(Role::Owner, 0, 0)).blocks());
    }

    #[test]
    fn email_change_tokens_round_trip_and_refuse_tampering() {
        let key = SecretKey::new(b"a test key that is long enough to sign".to_vec()).unwrap();
        let user = User {
            id: 7,
            email: "old@example.com".into(),
            name: "Ana".into(),
            password_hash: "$argon2id$hash".into(),
        };
        let claims = EmailChangeToken {
            user_id: 7,
            expires_at: 1_000,
            new_email: "new@example.com".into(),
        };
        let token = claims.sign(&key, &user);
        let (parsed, signature) = EmailChangeToken::parse(&token).unwrap();
        assert_eq!(parsed, claims);
        let verify = |email: &str, hash: &str, claims: &EmailChangeToken| {
            security::verify(
                &key,
                EMAIL_CHANGE_PURPOSE,
                &claims.signed_message(email, hash),
                signature,
            )
        };
        assert!(verify(&user.email, &user.password_hash, &parsed));
        // Once the address or the password changed, the link is dead.
        assert!(!verify("new@example.com", &user.password_hash, &parsed));
        assert!(!verify(&user.email, "$argon2id$other", &parsed));
        // Another address in the token does not carry the signature.
        let forged = EmailChangeToken {
            new_email: "spy@example.com".into(),
            ..parsed.clone()
        };
        assert!(!verify(&user.email, &user.password_hash, &forged));
        for bad in [
            "",
            "7",
            "7.1000",
            "x.1000.bmV3.sig",
            "7.1000.***.sig",
            "7.1.a.b.c",
        ] {
            assert!(EmailChangeToken::parse(bad).is_none(), "{bad:?}");
        }
    }
}
