//! Sign-in, sign-out and the signed-in user extractor.

use std::time::Duration;

use poem::{
    FromRequest, Request, RequestBody, Response, handler,
    http::StatusCode,
    web::{
        Data, Form, Query,
        cookie::{Cookie, CookieJar, SameSite},
    },
};
use serde::Deserialize;

use crate::{
    accounts::queries::SessionUser,
    accounts::views as pages,
    platform::{
        error::{AppError, AppResult},
        security,
        ui::Nav,
    },
};
use crate::{
    app::AppState,
    platform::web::{form_again, html_response, retry_later, see_other},
};

const SESSION_COOKIE: &str = "rally_session";
const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The signed-in user of this request. Without a valid session the request
/// is sent to the sign-in page.
#[derive(Clone)]
pub struct CurrentUser {
    pub user: SessionUser,
    pub csrf: String,
}

impl CurrentUser {
    pub fn nav(&self) -> Nav<'_> {
        Nav {
            user_name: &self.user.user_name,
            organization_name: &self.user.organization_name,
            csrf: &self.csrf,
            can_see_jobs: self
                .user
                .may(crate::organizations::roles::Action::ManageJobs),
            zone: self.user.zone(),
            unread: self.user.unread_notifications,
            can_see_locations: self
                .user
                .may(crate::organizations::roles::Action::ViewLocations),
        }
    }
}

pub fn session_token(req: &Request) -> Option<String> {
    req.cookie()
        .get(SESSION_COOKIE)
        .map(|c| c.value_str().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

impl<'a> FromRequest<'a> for CurrentUser {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        // Read already by the route's role check.
        if let Some(user) = req.extensions().get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let redirect = || poem::Error::from_response(see_other("/signin"));
        let state = req
            .data::<AppState>()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("app state missing")))?;
        let token = session_token(req).ok_or_else(redirect)?;
        let user =
            crate::accounts::queries::session_user(&state.db.read, &security::sha256_hex(&token))
                .await
                .map_err(AppError::from)?
                .ok_or_else(redirect)?;
        Ok(Self {
            user,
            csrf: security::csrf_token(&state.secret, &token),
        })
    }
}

/// Cookies are Secure when the app is served over https (directly or behind
/// a proxy that says so).
fn is_https(req: &Request, state: &AppState) -> bool {
    state.settings.production
        || req.uri().scheme_str() == Some("https")
        || req.header("x-forwarded-proto") == Some("https")
}

#[derive(Deserialize)]
pub struct SignInQuery {
    signed_out: Option<String>,
}

#[handler]
pub fn sign_in_page(Query(q): Query<SignInQuery>) -> Response {
    let notice = q.signed_out.map(|_| "You are signed out on every device.");
    html_response(StatusCode::OK, pages::sign_in("", notice))
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// A hash to verify against when no account has the email, so that an
/// unknown address takes as long to refuse as a wrong password.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

#[handler]
pub async fn sign_in(
    req: &Request,
    jar: &CookieJar,
    state: Data<&AppState>,
    Form(form): Form<SignInForm>,
) -> AppResult<Response> {
    // Looked up by the key every address is stored under.
    let email = crate::platform::text::email_key(&form.email);
    let ip = state.rate_limits.client_ip(req);
    if let Err(wait) = state.signin_throttle.check(ip, &email) {
        tracing::warn!(ip = ?ip, "sign-in throttled");
        let message = format!(
            "Too many sign-in attempts. Wait {}, then try again.",
            crate::platform::ui::plural(
                wait.as_secs().max(1).try_into().unwrap_or(i64::MAX),
                "second",
                "seconds"
            )
        );
        return Ok(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            form_again(pages::sign_in(&form.email, Some(&message))),
        ));
    }
    let user = crate::accounts::queries::user_by_email(&state.db.read, &email).await?;
    let password_ok = !form.password.is_empty() && form.password.len() <= 1024;
    let checked = match &user {
        Some(user) if password_ok => {
            state
                .hasher
                .verify(form.password.clone(), user.password_hash.clone())
                .await
        }
        _ => match DUMMY_HASH
            .get_or_try_init(|| state.hasher.hash(security::random_token()))
            .await
        {
            Ok(dummy) => state
                .hasher
                .verify(form.password.clone(), dummy.clone())
                .await
                .map(|_| false),
            Err(err) => Err(err),
        },
    };
    let valid = match checked {
        Ok(valid) => valid,
        Err(security::HashError::Busy) => {
            return Ok(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                security::BUSY_RETRY_AFTER,
                form_again(pages::sign_in(
                    &form.email,
                    Some(crate::platform::web::HASHING_BUSY),
                )),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let Some(user) = user.filter(|_| valid) else {
        return Ok(form_again(pages::sign_in(
            &form.email,
            Some("That email and password do not match an account."),
        )));
    };
    start_session(req, jar, &state, user.id).await?;
    Ok(see_other("/"))
}

/// Starts a session for `user_id`: a random token in the cookie, its hash
/// in the database.
pub async fn start_session(
    req: &Request,
    jar: &CookieJar,
    state: &AppState,
    user_id: i64,
) -> AppResult<()> {
    let token = security::random_token();
    crate::accounts::queries::create_session(
        &state.db.write,
        &security::sha256_hex(&token),
        user_id,
        SESSION_TTL,
    )
    .await?;
    let mut cookie = Cookie::new_with_str(SESSION_COOKIE, token);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(is_https(req, state));
    cookie.set_path("/");
    cookie.set_max_age(SESSION_TTL);
    jar.add(cookie);
    Ok(())
}

pub fn clear_session_cookie(jar: &CookieJar) {
    let mut cookie = Cookie::named(SESSION_COOKIE);
    cookie.set_path("/");
    cookie.make_removal();
    jar.add(cookie);
}

#[handler]
pub async fn sign_out(
    req: &Request,
    jar: &CookieJar,
    // Signed in: the route's guard checked the session and its CSRF token.
    _user: CurrentUser,
    state: Data<&AppState>,
) -> AppResult<Response> {
    if let Some(token) = session_token(req) {
        crate::accounts::queries::delete_session(&state.db.write, &security::sha256_hex(&token))
            .await?;
    }
    clear_session_cookie(jar);
    Ok(see_other("/signin"))
}
