//! The route table: every feature's routes, each with its access in
//! `organizations::roles::ROUTES`, built into one router behind the
//! [`Guard`] (session, CSRF, role) and the [`Frame`](super::frame).

use poem::{
    Endpoint, EndpointExt, IntoEndpoint, Route,
    http::{HeaderValue, header},
    middleware::CookieJarManager,
};

use super::{
    AppState,
    frame::{Frame, security_headers},
};
use crate::{
    accounts::{self, CurrentUser},
    events, forms, intake, operations,
    organizations::{
        self,
        roles::{self, Access, Action},
    },
    platform::{
        error::AppError,
        web::{assets, csrf, health, metrics},
    },
    prospects,
};

/// The CSV import's larger limit: the file plus the form around it.
pub const IMPORT_BODY_LIMIT: usize = crate::prospects::import::MAX_BYTES + 64 * 1024;

/// The logo upload's limit: a photo straight off a phone arrives whole, so
/// the branding page can answer that it is over
/// `forms::branding::LOGO_MAX` instead of a bare 413.
pub const LOGO_BODY_LIMIT: usize = 12 * 1024 * 1024;

/// The body limit of the route at `path` (a request path): [`BODY_LIMIT`],
/// or a route's own larger one. The one place routes' limits are declared;
/// `Frame` enforces it for every request.
pub fn body_limit(path: &str) -> usize {
    match path {
        "/prospects/import" => IMPORT_BODY_LIMIT,
        "/forms/branding/logo" => LOGO_BODY_LIMIT,
        _ => crate::platform::web::BODY_LIMIT,
    }
}

/// Declares every route once: the router is built from this table, and
/// [`route_paths`] lists it (the tenant-isolation test walks that list, so
/// a route added here is covered without editing the test).
macro_rules! route_table {
    ($( $path:literal => { $($method:ident : $handler:expr),+ $(,)? } ),* $(,)?) => {
        /// Every route's path pattern, in the table's order (metrics label
        /// requests by them: `metrics::route_label`).
        pub const ROUTE_PATTERNS: &[&str] = &[$($path),*];

        fn route_entries() -> Vec<(&'static str, Vec<&'static str>, poem::endpoint::BoxEndpoint<'static>)> {
            vec![$((
                $path,
                vec![$(stringify!($method)),+],
                poem::RouteMethod::new()$(.$method($handler))+.map_to_response().boxed(),
            )),*]
        }
    };
}

route_table! {
        "/" => { get: crate::home::routes::home },
        "/f/:slug" => { get: intake::routes::show, post: intake::routes::Submit },
        "/f/:slug/thanks" => { get: intake::routes::thanks },
        "/signin" => { get: accounts::auth::sign_in_page, post: accounts::auth::sign_in },
        "/signout" => { post: accounts::auth::sign_out },
        "/signout/everywhere" => { post: accounts::routes::sign_out_everywhere },
        "/signup" => { get: accounts::routes::sign_up_page, post: accounts::routes::sign_up },
        "/verify" => { get: accounts::routes::verify },
        "/account" => { get: accounts::routes::account_page },
        "/account/verify" => { post: accounts::routes::resend_verification },
        "/account/organization" => { post: accounts::routes::switch_organization },
        "/account/preferences" => { post: crate::notifications::routes::save },
        "/account/password" => { post: accounts::settings::change_password },
        "/account/email" => { post: accounts::settings::change_email },
        "/account/email/confirm" => {
            get: accounts::settings::confirm_email_page,
            post: accounts::settings::confirm_email,
        },
        "/account/delete" => { post: accounts::settings::delete_account },
        "/notifications" => { get: crate::notifications::routes::index },
        "/notifications/read" => { post: crate::notifications::routes::read },
        "/password/forgot" => { get: accounts::routes::forgot_page, post: accounts::routes::forgot },
        "/password/reset" => { get: accounts::routes::reset_page, post: accounts::routes::reset },
        "/dev/mailbox" => { get: accounts::routes::mailbox },
        "/home/checklist" => { post: crate::home::routes::dismiss_checklist },
        "/forms" => { get: forms::routes::index, post: forms::routes::create },
        "/forms/:id/edit" => { get: forms::routes::edit_page, post: forms::routes::edit },
        "/forms/:id/fields" => { post: forms::routes::field_change },
        "/forms/branding" => { get: forms::routes::branding_page, post: forms::routes::branding },
        "/forms/branding/logo" => { post: forms::routes::logo },
        "/forms/:id/template" => { post: forms::routes::template },
        "/forms/templates/:id/copy" => { post: forms::routes::copy },
        "/locations" => { get: organizations::locations::routes::index, post: organizations::locations::routes::create },
        "/locations/:id" => { get: organizations::locations::routes::show },
        "/people" => { get: organizations::routes::index },
        "/people/invite" => { post: organizations::routes::invite },
        "/people/invitations/:id/revoke" => { post: organizations::routes::revoke },
        "/people/:id/role" => { post: organizations::routes::change_role },
        "/people/:id/remove" => { post: organizations::routes::remove },
        "/people/transfer" => { post: organizations::routes::transfer },
        "/people/audit" => { get: organizations::routes::audit },
        "/invitations/accept" => { get: organizations::routes::accept_page, post: organizations::routes::accept },
        "/prospects" => { get: prospects::list::index, post: prospects::routes::create },
        "/prospects/bulk" => { post: prospects::bulk::bulk },
        "/prospects/views" => { post: prospects::saved_views::save },
        "/prospects/views/:id/delete" => { post: prospects::saved_views::delete },
        "/prospects/export.csv" => { get: prospects::routes::export },
        "/prospects/import" => {
            get: prospects::import::routes::page,
            post: prospects::import::routes::upload,
        },
        "/prospects/import/:id" => { get: prospects::import::routes::preview },
        "/prospects/import/:id/confirm" => { post: prospects::import::routes::confirm },
        "/prospects/trash" => { get: prospects::trash::index },
        "/prospects/trash/:id/restore" => { post: prospects::trash::restore },
        "/prospects/trash/:id/erase" => { post: prospects::trash::erase },
        "/prospects/:id/merge" => { get: prospects::merge::page, post: prospects::merge::merge },
        "/prospects/:id" => { get: prospects::routes::show },
        "/prospects/:id/edit" => { get: prospects::routes::edit_page, post: prospects::routes::edit },
        "/prospects/:id/notes" => { post: prospects::routes::add_note },
        "/prospects/:id/tasks" => { post: crate::tasks::routes::create },
        "/tasks/:id/done" => { post: crate::tasks::routes::done },
        "/tasks/:id/snooze" => { post: crate::tasks::routes::snooze },
        "/prospects/:id/stage" => { post: prospects::pipeline::move_card },
        "/prospects/:id/claim" => { post: prospects::bulk::claim },
        "/pipeline" => { get: prospects::pipeline::board },
        "/events" => { get: events::routes::index, post: events::routes::create },
        "/events/:id" => { get: events::routes::summary },
        "/events/:id/live" => { get: events::routes::live },
        "/events/:id/present" => { get: events::routes::present },
        "/events/:id/stream" => { get: events::routes::stream },
        "/events/:id/end" => { post: events::routes::end },
        "/held" => { get: intake::held::routes::index },
        "/held/:id/release" => { post: intake::held::routes::release },
        "/held/:id/discard" => { get: intake::held::routes::confirm_discard, post: intake::held::routes::discard },
        "/jobs" => { get: operations::routes::index },
        "/jobs/retry" => { post: operations::routes::retry },
        "/jobs/kept/:id/retry" => { post: operations::routes::retry_kept },
        "/ops/jobs" => { get: operations::routes::operations },
        "/ops/jobs/retry" => { post: operations::routes::operations_retry },
        "/ops/jobs/discard" => { get: operations::routes::operations_discard_page, post: operations::routes::operations_discard },
        "/healthz" => { get: health::healthz },
        "/readyz" => { get: health::readyz },
        "/assets/:name" => { get: assets::asset },
        "/metrics" => { get: metrics::scrape },
}

/// Every route as (path pattern, methods), e.g. `("/prospects/:id", ["get"])`.
pub fn route_paths() -> Vec<(&'static str, Vec<&'static str>)> {
    route_entries()
        .into_iter()
        .map(|(path, methods, _)| (path, methods))
        .collect()
}

pub fn routes(state: AppState) -> impl IntoEndpoint {
    let mut router = Route::new();
    for (path, methods, endpoint) in route_entries() {
        // Each method's need from the role table (`crate::organizations::roles::ROUTES`).
        let rules: Vec<(&'static str, Need)> = methods
            .iter()
            .filter_map(|method| match roles::access(method, path) {
                Some(Access::SignedIn(action)) => Some((*method, Need::Action(action))),
                Some(Access::Operator) => Some((*method, Need::Operator)),
                Some(Access::Public) | None => None,
            })
            .collect();
        if rules.is_empty() {
            router = router.at(path, endpoint);
        } else {
            router = router.at(
                path,
                Guard {
                    inner: endpoint,
                    rules,
                },
            );
        }
    }
    let mut headers = security_headers().to_vec();
    if state.settings.production {
        // Production is served over https only (fly.toml forces it): tell
        // browsers never to try plain http for a year.
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    Frame {
        inner: router.with(CookieJarManager::new()),
        state,
        headers,
    }
}

/// What a signed-in route asks of the person calling it.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// A role that allows the action (`roles::check`).
    Action(Action),
    /// One of the deployment's operators (`crate::organizations::operators`); anyone
    /// else is told there is nothing here (404), whatever they send.
    Operator,
}

/// Enforces the role table for one route: before the handler runs, the
/// signed-in user (else a redirect to sign in) must be an operator where
/// the route is for operators (else 404), must send the session's CSRF
/// token with any request that can change something (else 403, see
/// [`csrf`]), and must be allowed the route's action (else 403, or 404
/// where the organization has nothing of the kind). The user is left in
/// the request for the handler's [`CurrentUser`], so the session is read
/// once.
struct Guard<E> {
    inner: E,
    /// (method as in the route table, need).
    rules: Vec<(&'static str, Need)>,
}

impl<E: Endpoint> Endpoint for Guard<E> {
    type Output = E::Output;

    async fn call(&self, mut req: poem::Request) -> poem::Result<E::Output> {
        let method = match *req.method() {
            poem::http::Method::HEAD => "get",
            ref other => other.as_str(),
        };
        let need = self
            .rules
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, need)| *need);
        if let Some(need) = need {
            let user = {
                use poem::FromRequest;
                CurrentUser::from_request_without_body(&req).await?
            };
            let action = match need {
                Need::Action(action) => action,
                Need::Operator => {
                    let state = req
                        .data::<AppState>()
                        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("app state missing")))?;
                    let operator = crate::organizations::operators::is_operator(
                        &state.db.read,
                        &state.settings,
                        user.user.user_id,
                    )
                    .await
                    .map_err(AppError::from)?;
                    if !operator {
                        return Err(AppError::NotFound.into());
                    }
                    Action::UseAccount
                }
            };
            // Before the role: a forged request learns nothing else.
            if csrf::is_unsafe(req.method()) {
                csrf::verify(&mut req, &user).await?;
            }
            if let Err(refusal) = roles::check(user.user.role, user.user.place(), action) {
                return Err(match refusal {
                    roles::Refusal::NotHere => AppError::NotFound,
                    roles::Refusal::RoleTooLow(_) => AppError::Forbidden(refusal.message()),
                }
                .into());
            }
            req.extensions_mut().insert(user);
        }
        self.inner.call(req).await
    }
}

/// Makes an endpoint for tests and `startup` alike.
pub fn endpoint(state: AppState) -> impl Endpoint {
    routes(state).into_endpoint()
}
