//! Accounts: sign-up (a user and their organization), email verification,
//! password reset, "sign out everywhere", the account page, and the
//! development mailbox.

use std::time::Duration;

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query, cookie::CookieJar},
};
use serde::Deserialize;

use crate::{
    accounts::views as pages,
    platform::{
        db,
        error::{AppError, AppResult},
        mail as email, security,
        text::Email as EmailAddress,
    },
};
use crate::{
    accounts::{auth, auth::CurrentUser},
    app::AppState,
    organizations::kind::OrganizationKind,
    platform::web::{HASHING_BUSY, form_again, html_response, retry_later, see_other},
};

const VERIFY_TTL: Duration = Duration::from_secs(48 * 3600);
const RESET_TTL: Duration = Duration::from_secs(3600);
const MIN_PASSWORD: usize = 10;
const MAX_PASSWORD: usize = 1024;

/// Where links in emails point: `RALLY_PUBLIC_URL`, or in development the
/// address the request came to. (Production requires the setting: a Host
/// header chosen by a client must never end up in someone's reset link.)
pub fn public_base(req: &Request, state: &AppState) -> String {
    if let Some(url) = &state.settings.public_url {
        return url.clone();
    }
    let scheme = match req.header("x-forwarded-proto") {
        Some("https") => "https",
        _ => req.uri().scheme_str().unwrap_or("http"),
    };
    let host = req.header("host").unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// What is wrong with a person's name, if anything.
pub fn name_problem(name: &str) -> Option<&'static str> {
    (name.is_empty() || name.chars().count() > 100)
        .then_some("Please give your name (up to 100 characters).")
}

/// What is wrong with a new password, if anything.
pub fn password_problem(password: &str) -> Option<&'static str> {
    if password.chars().count() < MIN_PASSWORD {
        Some("Use at least 10 characters.")
    } else if password.len() > MAX_PASSWORD {
        Some("That password is too long.")
    } else {
        None
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub organization: String,
    #[serde(default)]
    pub kind: String,
    /// The browser's zone, filled in by `rally.js` (empty without it).
    #[serde(default)]
    pub time_zone: String,
}

/// A field's message, for the form coming back.
pub type Problems = Vec<(&'static str, &'static str)>;

#[handler]
pub fn sign_up_page() -> Response {
    html_response(
        StatusCode::OK,
        pages::sign_up(&SignUpForm::default(), &Vec::new()),
    )
}

#[handler]
pub async fn sign_up(
    req: &Request,
    jar: &CookieJar,
    state: Data<&AppState>,
    Form(form): Form<SignUpForm>,
) -> AppResult<Response> {
    let mut problems: Problems = Vec::new();
    let name = form.name.trim();
    if let Some(msg) = name_problem(name) {
        problems.push(("name", msg));
    }
    let email = EmailAddress::parse(&form.email);
    if let Err(msg) = &email {
        problems.push(("email", msg));
    }
    if let Some(msg) = password_problem(&form.password) {
        problems.push(("password", msg));
    }
    let organization = form.organization.trim();
    if organization.is_empty() || organization.chars().count() > 120 {
        problems.push((
            "organization",
            "Please name your company or team (up to 120 characters).",
        ));
    }
    let kind = OrganizationKind::at_sign_up(&form.kind);
    if let Err(msg) = kind {
        problems.push(("kind", msg));
    }
    let (Ok(email), Ok(kind), true) = (email, kind, problems.is_empty()) else {
        return Ok(form_again(pages::sign_up(&form, &problems)));
    };
    let ip = state.rate_limits.client_ip(req);
    if let Err(wait) = state.signup_throttle.check(ip, email.as_str()) {
        tracing::warn!(ip = ?ip, "sign-up throttled");
        let problems = vec![(
            "email",
            "Too many sign-ups from here or for this address. Wait a minute, then try again.",
        )];
        return Ok(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            form_again(pages::sign_up(&form, &problems)),
        ));
    }
    let email_taken = || {
        let problems = vec![(
            "email",
            "An account already uses this email. Sign in, or reset your password.",
        )];
        form_again(pages::sign_up(&form, &problems))
    };
    // Cheap checks first: a taken address is answered without hashing.
    if crate::accounts::queries::user_by_email(&state.db.read, email.as_str())
        .await?
        .is_some()
    {
        return Ok(email_taken());
    }
    let hash = match state.hasher.hash(form.password.clone()).await {
        Ok(hash) => hash,
        Err(security::HashError::Busy) => {
            let problems = vec![("password", HASHING_BUSY)];
            return Ok(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                security::BUSY_RETRY_AFTER,
                form_again(pages::sign_up(&form, &problems)),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let mut tx = state.db.write.begin_write().await?;
    let (user_id, org_id) = match crate::accounts::queries::create_account(
        &mut tx,
        name,
        email.as_str(),
        &hash,
        organization,
        kind,
    )
    .await
    {
        Ok(ids) => ids,
        Err(crate::accounts::queries::SignUpError::EmailTaken) => return Ok(email_taken()),
        Err(crate::accounts::queries::SignUpError::Database(err)) => return Err(err.into()),
    };
    // A form to start from (the first-run checklist asks to adjust it).
    crate::forms::queries::create_starter_form(&mut tx, org_id, organization).await?;
    // The browser's zone for the person and their new organization; one
    // this build does not know (or none, without JavaScript) leaves UTC.
    if let Some(zone) = crate::platform::time_zones::parse(&form.time_zone) {
        crate::platform::time_zones::set_on_sign_up(&mut tx, user_id, org_id, zone).await?;
    }
    let link = new_token_link(&mut tx, &req_base(req, &state), user_id, "verify").await?;
    let message = email::verification(
        format!("verify-{}", link.1),
        org_id,
        email.as_str(),
        name,
        &link.0,
    );
    email::queue(&mut tx, &state.queue, &message).await?;
    tx.commit().await?;
    tracing::info!(user_id, organization_id = org_id, "account created");
    auth::start_session(req, jar, &state, user_id).await?;
    Ok(see_other("/account?welcome=1"))
}

fn req_base(req: &Request, state: &AppState) -> String {
    public_base(req, state)
}

/// A fresh one-time token for `purpose`, stored hashed; returns the link
/// (`/verify?token=…` or `/password/reset?token=…`) and a short id of the
/// token for the email's key.
async fn new_token_link(
    tx: &mut db::Tx,
    base: &str,
    user_id: i64,
    purpose: &str,
) -> AppResult<(String, String)> {
    let token = security::random_token();
    let hash = security::sha256_hex(&token);
    let ttl = if purpose == "verify" {
        VERIFY_TTL
    } else {
        RESET_TTL
    };
    crate::accounts::queries::create_email_token(tx, &hash, user_id, purpose, ttl).await?;
    let path = if purpose == "verify" {
        "/verify"
    } else {
        "/password/reset"
    };
    Ok((
        format!("{base}{path}?token={token}"),
        hash[..24].to_string(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[handler]
pub async fn verify(state: Data<&AppState>, Query(q): Query<TokenQuery>) -> AppResult<Response> {
    let mut tx = state.db.write.begin_write().await?;
    let user = crate::accounts::queries::use_email_token(
        &mut tx,
        &security::sha256_hex(&q.token),
        "verify",
    )
    .await?;
    let Some(user_id) = user else {
        tx.commit().await?;
        return Ok(html_response(
            StatusCode::BAD_REQUEST,
            pages::notice(
                "Link not valid",
                "This confirmation link is not valid any more: it was used already or has expired. Sign in and ask for a new one on your account page.",
            ),
        ));
    };
    crate::accounts::queries::mark_email_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(html_response(
        StatusCode::OK,
        pages::notice(
            "Email confirmed",
            "Thank you: your email address is confirmed.",
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    welcome: Option<String>,
    sent: Option<String>,
    saved: Option<String>,
    /// A settings change done: `password`.
    done: Option<String>,
    /// An email change asked: the new address the link went to.
    sent_to: Option<String>,
}

#[handler]
pub async fn account_page(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(q): Query<AccountQuery>,
) -> AppResult<Response> {
    let sent_to;
    let notice = if q.welcome.is_some() {
        Some("Welcome to Rally! We sent you an email to confirm your address.")
    } else if q.sent.is_some() {
        Some("We sent you a new confirmation email.")
    } else if q.saved.is_some() {
        Some("Your choices are saved.")
    } else if q.done.as_deref() == Some("password") {
        Some("Your password is changed. Every other session is signed out.")
    } else if let Some(to) = &q.sent_to {
        sent_to = format!(
            "We sent a link to {}. Your address changes when you open it (within 24 hours); until then it stays as it is.",
            crate::platform::text::display_email(to)
        );
        Some(sent_to.as_str())
    } else {
        None
    };
    let preferences = crate::notifications::routes::section(&state, &user, None, &[]).await?;
    Ok(html_response(
        StatusCode::OK,
        page(&state, &user, notice, preferences).await?,
    ))
}

/// The account page with its preferences section (`preferences`).
pub async fn page(
    state: &AppState,
    user: &CurrentUser,
    notice: Option<&str>,
    preferences: maud::Markup,
) -> AppResult<maud::Markup> {
    page_with(
        state,
        user,
        notice,
        preferences,
        &crate::accounts::settings::SettingsForms::default(),
    )
    .await
}

/// [`page`] with the settings forms as sent (`settings`: the address typed
/// and each field's message).
pub async fn page_with(
    state: &AppState,
    user: &CurrentUser,
    notice: Option<&str>,
    preferences: maud::Markup,
    settings: &crate::accounts::settings::SettingsForms,
) -> AppResult<maud::Markup> {
    let account = crate::accounts::queries::account(&state.db.read, user.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let memberships =
        crate::accounts::queries::memberships_of(&state.db.read, user.user.user_id).await?;
    let holdings =
        crate::organizations::queries::holdings(&state.db.read, user.user.user_id).await?;
    Ok(pages::account(
        user.nav(),
        &account,
        user.user.role,
        &memberships,
        user.user.organization_id,
        notice,
        preferences,
        &pages::Settings {
            forms: settings,
            holdings: &holdings,
        },
    ))
}

#[handler]
pub async fn resend_verification(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
) -> AppResult<Response> {
    let account = crate::accounts::queries::account(&state.db.read, user.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if account.email_verified_at.is_some() {
        return Ok(see_other("/account"));
    }
    if let Err(wait) = state
        .signin_throttle
        .check(None, &format!("verify:{}", account.email))
    {
        return Err(AppError::TooMany(wait));
    }
    let mut tx = state.db.write.begin_write().await?;
    let link = new_token_link(&mut tx, &public_base(req, &state), account.id, "verify").await?;
    let message = email::verification(
        format!("verify-{}", link.1),
        user.user.organization_id,
        &account.email,
        &account.name,
        &link.0,
    );
    email::queue(&mut tx, &state.queue, &message).await?;
    tx.commit().await?;
    Ok(see_other("/account?sent=1"))
}

#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    organization_id: String,
}

/// Works in another of the user's organizations from now on.
#[handler]
pub async fn switch_organization(
    req: &Request,
    // Signed in: the route's guard checked the session and its CSRF token.
    _user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<SwitchForm>,
) -> AppResult<Response> {
    let id: i64 = form
        .organization_id
        .parse()
        .map_err(|_| AppError::NotFound)?;
    let token = auth::session_token(req).ok_or(AppError::NotFound)?;
    if !crate::accounts::queries::switch_organization(
        &state.db.write,
        &security::sha256_hex(&token),
        id,
    )
    .await?
    {
        return Err(AppError::NotFound);
    }
    Ok(see_other("/"))
}

#[handler]
pub async fn sign_out_everywhere(
    jar: &CookieJar,
    user: CurrentUser,
    state: Data<&AppState>,
) -> AppResult<Response> {
    let ended =
        crate::accounts::queries::delete_sessions_of(&state.db.write, user.user.user_id).await?;
    tracing::info!(
        user_id = user.user.user_id,
        sessions = ended,
        "signed out everywhere"
    );
    auth::clear_session_cookie(jar);
    Ok(see_other("/signin?signed_out=everywhere"))
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

#[handler]
pub fn forgot_page() -> Response {
    html_response(StatusCode::OK, pages::forgot("", None))
}

#[handler]
pub async fn forgot(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<ForgotForm>,
) -> AppResult<Response> {
    let Ok(email) = EmailAddress::parse(&form.email) else {
        return Ok(form_again(pages::forgot(
            &form.email,
            Some("Please enter the email address of your account."),
        )));
    };
    let ip = state.rate_limits.client_ip(req);
    if let Err(wait) = state
        .signin_throttle
        .check(ip, &format!("reset:{}", email.as_str()))
    {
        return Ok(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            form_again(pages::forgot(
                &form.email,
                Some(
                    "Too many requests for this address or from here. Wait a minute, then try again.",
                ),
            )),
        ));
    }
    // The same answer whether or not an account uses the address: the page
    // must not tell strangers who has an account.
    if let Some(user) =
        crate::accounts::queries::user_by_email(&state.db.read, email.as_str()).await?
    {
        let account = crate::accounts::queries::account(&state.db.read, user.id).await?;
        let mut tx = state.db.write.begin_write().await?;
        let link = new_token_link(&mut tx, &public_base(req, &state), user.id, "reset").await?;
        let message = email::password_reset(
            format!("reset-{}", link.1),
            account.and_then(|a| a.organization_id),
            email.as_str(),
            &user.name,
            &link.0,
        );
        email::queue(&mut tx, &state.queue, &message).await?;
        tx.commit().await?;
        if reset_link_in_log(&state) {
            // Development only: the mailbox shows mail to a signed-in
            // recipient, which a person who forgot their password is not.
            tracing::info!(
                to = email.as_str(),
                link = %link.0,
                "development mailbox: password reset link (not sent; never logged in production)"
            );
        }
    }
    Ok(html_response(
        StatusCode::OK,
        pages::reset_requested(reset_link_in_log(&state)),
    ))
}

/// Whether a reset link is written to the server log: only with the
/// development mailbox, and never in production (where the mailbox is
/// refused at start anyway).
fn reset_link_in_log(state: &AppState) -> bool {
    state.mailer.is_mailbox() && !state.settings.production
}

#[handler]
pub async fn reset_page(
    state: Data<&AppState>,
    Query(q): Query<TokenQuery>,
) -> AppResult<Response> {
    if !crate::accounts::queries::email_token_valid(
        &state.db.read,
        &security::sha256_hex(&q.token),
        "reset",
    )
    .await?
    {
        return Ok(invalid_reset_link());
    }
    Ok(html_response(StatusCode::OK, pages::reset(&q.token, None)))
}

fn invalid_reset_link() -> Response {
    html_response(
        StatusCode::BAD_REQUEST,
        pages::notice(
            "Link not valid",
            "This password link is not valid any more: it was used already or has expired. Ask for a new one from the sign-in page.",
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

#[handler]
pub async fn reset(
    req: &Request,
    jar: &CookieJar,
    state: Data<&AppState>,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    // Cheap checks first, in this order: the address's allowance, the
    // fields, the link, the account's allowance; only then the hash.
    let ip = state.rate_limits.client_ip(req);
    let too_many = |wait| {
        retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            form_again(pages::reset(
                &form.token,
                Some("Too many attempts. Wait a minute, then try again."),
            )),
        )
    };
    if let Err(wait) = state.signin_throttle.check_ip(ip) {
        tracing::warn!(ip = ?ip, "password reset throttled");
        return Ok(too_many(wait));
    }
    let problem = password_problem(&form.password).or_else(|| {
        (form.password != form.confirm).then_some("The two passwords are not the same.")
    });
    if let Some(problem) = problem {
        return Ok(form_again(pages::reset(&form.token, Some(problem))));
    }
    let token_hash = security::sha256_hex(&form.token);
    let Some(user_id) =
        crate::accounts::queries::email_token_user(&state.db.read, &token_hash, "reset").await?
    else {
        return Ok(invalid_reset_link());
    };
    if let Err(wait) = state
        .signin_throttle
        .check_account_from(ip, &format!("reset-password:{user_id}"))
    {
        return Ok(too_many(wait));
    }
    let hash = match state.hasher.hash(form.password.clone()).await {
        Ok(hash) => hash,
        Err(security::HashError::Busy) => {
            return Ok(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                security::BUSY_RETRY_AFTER,
                form_again(pages::reset(&form.token, Some(HASHING_BUSY))),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let mut tx = state.db.write.begin_write().await?;
    // Used now (the link may have been used meanwhile): one link, one change.
    let Some(user_id) = crate::accounts::queries::use_email_token(&mut tx, &token_hash, "reset")
        .await?
        .filter(|used_by| *used_by == user_id)
    else {
        tx.commit().await?;
        return Ok(invalid_reset_link());
    };
    // Every other session and every other reset link ends: whoever knew
    // the old password, or holds an older link, is out.
    crate::accounts::queries::set_password(&mut tx, user_id, &hash).await?;
    // Receiving the link proves the address.
    crate::accounts::queries::mark_email_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id, "password reset");
    auth::start_session(req, jar, &state, user_id).await?;
    Ok(see_other("/"))
}

/// True when the connection comes from this machine: a loopback peer (or a
/// Unix socket). The peer as the socket says, never a forwarded header.
fn from_this_machine(peer: &poem::web::RemoteAddr) -> bool {
    match peer.as_socket_addr() {
        Some(addr) => addr.ip().is_loopback(),
        None => matches!(peer.0, poem::Addr::Unix(_)),
    }
}

/// The development mailbox, while no Mailgun is configured: the messages
/// sent to the signed-in person's own address, and no one else's (see
/// [`email::mailbox`]).
#[handler]
pub async fn mailbox(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
) -> AppResult<Response> {
    // A link read here proves nothing about who owns an address (anyone can
    // sign up with any address and read what was sent to it, an invitation
    // or an operator's confirmation included), so the mailbox is the
    // developer's own: it answers only on the machine Rally runs on (the
    // peer itself, never a forwarded header), 404 to anyone else.
    if !state.mailer.is_mailbox() || !from_this_machine(req.remote_addr()) {
        return Err(AppError::NotFound);
    }
    let messages = email::mailbox(&state.db.read, user.user.user_id, 50).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::mailbox(user.nav(), &messages),
    ))
}

#[cfg(test)]
mod tests {
    use super::from_this_machine;
    use poem::web::RemoteAddr;

    #[test]
    fn the_development_mailbox_is_for_this_machine_only() {
        let peer = |a: &str| RemoteAddr(poem::Addr::SocketAddr(a.parse().unwrap()));
        assert!(from_this_machine(&peer("127.0.0.1:5000")));
        assert!(from_this_machine(&peer("[::1]:5000")));
        assert!(!from_this_machine(&peer("192.0.2.7:5000")));
        assert!(!from_this_machine(&peer("[2001:db8::1]:5000")));
        assert!(!from_this_machine(&RemoteAddr(poem::Addr::Custom(
            "proxy",
            "x".into()
        ))));
    }
}
