//! People: the organization's members and invitations, role changes,
//! removal, ownership transfer, the audit log, and accepting an invitation.
//!
//! Who may do what: the routes' roles are in `crate::organizations::roles` (enforced
//! before these handlers run); here, the rules about a particular person:
//! one may invite, re-role, remove or withdraw the invitation of only
//! people whose role ranks below their own (owner > admin > manager >
//! member), and only into roles below their own ([`Role::may_grant`]).
//! Everything is scoped to the signed-in user's organization: another
//! organization's ids are "not found". At a franchise HQ, the owner and
//! admins also manage each location's people: the same operations, with a
//! `location` field naming one of HQ's locations ([`PeopleScope`]).

use std::time::Duration;

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::Deserialize;

use crate::{
    accounts::{auth, auth::CurrentUser, routes::public_base},
    app::AppState,
    platform::web::{form_again, html_response, see_other},
};
use crate::{
    organizations::{
        locations::queries as franchise,
        queries as people,
        roles::{Action, Role},
        views as pages,
    },
    platform::{
        error::{AppError, AppResult},
        mail as email, security,
        text::Email as EmailAddress,
    },
};

const INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Deserialize)]
pub struct PeopleQuery {
    done: Option<String>,
}

#[handler]
pub async fn index(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(q): Query<PeopleQuery>,
) -> AppResult<Response> {
    let org = user.user.organization_id;
    let members = people::members(&state.db.read, org).await?;
    let invitations = people::pending_invitations(&state.db.read, org).await?;
    let locations = locations_for(&state, &user).await?;
    let teams = location_teams(&state, &user).await?;
    let notice = match q.done.as_deref() {
        Some("invited") => Some("Invitation sent."),
        Some("revoked") => Some("Invitation withdrawn."),
        Some("role") => Some("Role changed."),
        Some("removed") => Some("Removed from the organization."),
        Some("transferred") => Some("You transferred ownership; you are now an admin."),
        _ => None,
    };
    Ok(html_response(
        StatusCode::OK,
        pages::index(
            user.nav(),
            &user.user,
            &members,
            &invitations,
            &locations,
            &teams,
            &pages::InviteForm::default(),
            notice,
        ),
    ))
}

/// At a franchise HQ, for those who may see its locations: each location
/// with its people and pending invitations, by name.
async fn location_teams(state: &AppState, user: &CurrentUser) -> AppResult<Vec<pages::Team>> {
    if !user.user.may(Action::ViewLocations) {
        return Ok(Vec::new());
    }
    let mut teams = Vec::new();
    for (id, name) in franchise::locations(&state.db.read, user.user.organization_id).await? {
        teams.push(pages::Team {
            id,
            name,
            members: people::members(&state.db.read, id).await?,
            invitations: people::pending_invitations(&state.db.read, id).await?,
        });
    }
    Ok(teams)
}

/// Which organization's people a role change, removal or withdrawal acts
/// on: the person's own, or (`location` given) one of their HQ's
/// locations, for HQ's owner and admins (those who add locations and
/// invite into them). The role rules stay the actor's own role against
/// the other person's role there. A location that is not one of the HQ's,
/// or someone not allowed, is answered "not found".
#[derive(Debug, Default, Deserialize)]
pub struct PeopleScope {
    #[serde(default)]
    location: String,
}

impl PeopleScope {
    /// The organization acted in, and where to go back to on `/people`.
    async fn resolve(&self, state: &AppState, user: &CurrentUser) -> AppResult<(i64, String)> {
        if self.location.is_empty() {
            return Ok((user.user.organization_id, String::new()));
        }
        let id: i64 = self.location.parse().map_err(|_| AppError::NotFound)?;
        if !locations_for(state, user)
            .await?
            .iter()
            .any(|(l, _)| *l == id)
        {
            return Err(AppError::NotFound);
        }
        Ok((id, format!("#location-{id}")))
    }
}

/// The locations HQ's owner and admins may invite into (those who may add
/// locations): (id, name).
async fn locations_for(state: &AppState, user: &CurrentUser) -> AppResult<Vec<(i64, String)>> {
    if !user.user.may(Action::AddLocation) {
        return Ok(Vec::new());
    }
    Ok(franchise::locations(&state.db.read, user.user.organization_id).await?)
}

#[derive(Debug, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    /// A franchise location to join instead of HQ (HQ owner and admins).
    #[serde(default)]
    location: String,
}

#[handler]
pub async fn invite(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    let org = user.user.organization_id;
    let email = EmailAddress::parse(&form.email);
    let role = form.role.parse::<Role>().ok().filter(|r| *r != Role::Owner);
    let mut problem: Option<&'static str> = None;
    if let Err(msg) = &email {
        problem = Some(msg);
    } else if role.is_none() {
        problem = Some("Choose a role.");
    } else if role.is_some_and(|r| !user.user.role.may_grant(r)) {
        problem = Some("You can invite people only into roles below your own.");
    }
    let locations = locations_for(&state, &user).await?;
    // Where the person will belong: HQ (or the organization), or a location.
    let target = match form.location.as_str() {
        "" => Some((org, user.user.organization_name.clone())),
        raw => raw
            .parse::<i64>()
            .ok()
            .and_then(|id| locations.iter().find(|(l, _)| *l == id).cloned()),
    };
    if target.is_none() {
        problem = Some("Choose one of your locations.");
    }
    let members = people::members(&state.db.read, org).await?;
    let joining = match &target {
        Some((id, _)) if *id != org => people::members(&state.db.read, *id).await?,
        _ => Vec::new(),
    };
    if let Ok(email) = &email
        && members
            .iter()
            .chain(&joining)
            .any(|m| m.email == email.as_str())
    {
        problem = Some("This person is already a member.");
    }
    let (Ok(email), None, Some((target_id, target_name)), Some(role)) =
        (email, problem, target, role)
    else {
        let invitations = people::pending_invitations(&state.db.read, org).await?;
        let again = pages::InviteForm {
            email: form.email.clone(),
            role: form.role.clone(),
            location: form.location.clone(),
            problem,
        };
        let teams = location_teams(&state, &user).await?;
        return Ok(form_again(pages::index(
            user.nav(),
            &user.user,
            &members,
            &invitations,
            &locations,
            &teams,
            &again,
            None,
        )));
    };
    let token = security::random_token();
    let hash = security::sha256_hex(&token);
    let link = format!(
        "{}/invitations/accept?token={token}",
        public_base(req, &state)
    );
    let mut tx = state.db.write.begin_write().await?;
    let id = people::create_invitation(
        &mut tx,
        target_id,
        email.as_str(),
        role,
        &hash,
        user.user.user_id,
        INVITATION_TTL,
    )
    .await?;
    let message = email::invitation(
        format!("invite-{id}"),
        org,
        email.as_str(),
        &user.user.user_name,
        &target_name,
        role.as_str(),
        &link,
    );
    email::queue(&mut tx, &state.queue, &message).await?;
    tx.commit().await?;
    Ok(see_other("/people?done=invited"))
}

#[handler]
pub async fn revoke(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<i64>,
    Form(scope): Form<PeopleScope>,
) -> AppResult<Response> {
    let (org, back) = scope.resolve(&state, &user).await?;
    let invitation = people::pending_invitation(&state.db.read, org, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !user.user.role.outranks(invitation.role) {
        return Err(AppError::Forbidden(
            "You can withdraw only invitations into roles below your own.",
        ));
    }
    let mut tx = state.db.write.begin_write().await?;
    let done = people::revoke_invitation(&mut tx, org, id, user.user.user_id).await?;
    tx.commit().await?;
    if !done {
        return Err(AppError::NotFound);
    }
    Ok(see_other(&format!("/people?done=revoked{back}")))
}

/// The member `id` of organization `org` (the user's, or one of their
/// HQ's locations), if the user outranks them.
async fn subordinate(
    state: &AppState,
    user: &CurrentUser,
    org: i64,
    id: i64,
) -> AppResult<people::Member> {
    let member = people::member(&state.db.read, org, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if id == user.user.user_id || !user.user.role.outranks(member.role) {
        return Err(AppError::Forbidden(
            "You can change only people whose role ranks below yours.",
        ));
    }
    Ok(member)
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    /// One of HQ's locations (see [`PeopleScope`]).
    #[serde(default)]
    location: String,
}

#[handler]
pub async fn change_role(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<i64>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    let scope = PeopleScope {
        location: form.location.clone(),
    };
    let (org, back) = scope.resolve(&state, &user).await?;
    let member = subordinate(&state, &user, org, id).await?;
    let Some(role) = form
        .role
        .parse::<Role>()
        .ok()
        .filter(|r| user.user.role.may_grant(*r))
    else {
        return Err(AppError::BadRequest(
            "That role is not one you can give: choose one below your own.",
        ));
    };
    if member.role != role {
        let mut tx = state.db.write.begin_write().await?;
        people::change_role(&mut tx, org, id, role, user.user.user_id).await?;
        tx.commit().await?;
    }
    Ok(see_other(&format!("/people?done=role{back}")))
}

#[handler]
pub async fn remove(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<i64>,
    Form(scope): Form<PeopleScope>,
) -> AppResult<Response> {
    let (org, back) = scope.resolve(&state, &user).await?;
    subordinate(&state, &user, org, id).await?;
    let mut tx = state.db.write.begin_write().await?;
    people::remove_member(&mut tx, org, id, user.user.user_id).await?;
    tx.commit().await?;
    Ok(see_other(&format!("/people?done=removed{back}")))
}

#[derive(Debug, Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    user_id: String,
    /// `yes`: the owner ticked that they become an admin and cannot take
    /// ownership back themselves.
    #[serde(default)]
    confirm: String,
}

#[handler]
pub async fn transfer(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<TransferForm>,
) -> AppResult<Response> {
    let to: i64 = form
        .user_id
        .parse()
        .map_err(|_| AppError::BadRequest("Choose the member who will own the organization."))?;
    let org = user.user.organization_id;
    if to == user.user.user_id || people::member(&state.db.read, org, to).await?.is_none() {
        return Err(AppError::BadRequest(
            "Ownership goes to another member of this organization.",
        ));
    }
    if form.confirm != "yes" {
        return Err(AppError::BadRequest(
            "Tick the box that confirms the transfer: you become an admin, and only the new owner can give ownership back.",
        ));
    }
    let mut tx = state.db.write.begin_write().await?;
    people::transfer_ownership(&mut tx, org, user.user.user_id, to).await?;
    tx.commit().await?;
    Ok(see_other("/people?done=transferred"))
}

#[handler]
pub async fn audit(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let entries = people::audit_log(&state.db.read, user.user.organization_id, 200).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::audit(user.nav(), &entries),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[handler]
pub async fn accept_page(
    user: Option<CurrentUser>,
    state: Data<&AppState>,
    Query(q): Query<TokenQuery>,
) -> AppResult<Response> {
    let Some(invitation) =
        people::invitation_by_token(&state.db.read, &security::sha256_hex(&q.token)).await?
    else {
        return Ok(invalid_invitation());
    };
    let account =
        crate::accounts::queries::user_by_email(&state.db.read, &invitation.email).await?;
    let view = match (&user, &account) {
        (Some(user), _) => {
            if is_invitee(&state, user, &invitation).await? {
                pages::AcceptView::Join
            } else {
                pages::AcceptView::WrongAccount
            }
        }
        (None, Some(_)) => pages::AcceptView::SignInFirst,
        (None, None) => pages::AcceptView::CreateAccount {
            problem: None,
            name: String::new(),
        },
    };
    Ok(html_response(
        StatusCode::OK,
        pages::accept(
            &invitation,
            &q.token,
            user.as_ref().map(|u| u.csrf.as_str()),
            &view,
        ),
    ))
}

/// Whether the signed-in user is the person the invitation was sent to.
async fn is_invitee(
    state: &AppState,
    user: &CurrentUser,
    invitation: &people::Invitation,
) -> AppResult<bool> {
    let me = crate::accounts::queries::account(&state.db.read, user.user.user_id).await?;
    Ok(me.is_some_and(|me| me.email == invitation.email))
}

fn invalid_invitation() -> Response {
    html_response(
        StatusCode::BAD_REQUEST,
        crate::accounts::views::notice(
            "Invitation not valid",
            "This invitation is not valid any more: it was used, withdrawn, or has expired. Ask whoever invited you for a new one.",
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    /// Present when a signed-in person joins: their session's token.
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

#[handler]
pub async fn accept(
    req: &Request,
    jar: &CookieJar,
    user: Option<CurrentUser>,
    state: Data<&AppState>,
    Form(form): Form<AcceptForm>,
) -> AppResult<Response> {
    let hash = security::sha256_hex(&form.token);
    let Some(invitation) = people::invitation_by_token(&state.db.read, &hash).await? else {
        return Ok(invalid_invitation());
    };
    let account =
        crate::accounts::queries::user_by_email(&state.db.read, &invitation.email).await?;
    let user_id = match (&user, account) {
        (Some(user), _) => {
            crate::platform::web::csrf::check(user, &form.csrf)?;
            if !is_invitee(&state, user, &invitation).await? {
                return Err(AppError::Forbidden(
                    "This invitation is for another email address. Sign out, then open the link again.",
                ));
            }
            user.user.user_id
        }
        (None, Some(_)) => return Ok(see_other("/signin")),
        (None, None) => {
            // A new account: the link proves the address.
            let name = form.name.trim();
            let problem = crate::accounts::routes::name_problem(name)
                .or_else(|| crate::accounts::routes::password_problem(&form.password));
            if let Some(problem) = problem {
                return Ok(form_again(pages::accept(
                    &invitation,
                    &form.token,
                    None,
                    &pages::AcceptView::CreateAccount {
                        problem: Some(problem),
                        name: form.name.clone(),
                    },
                )));
            }
            let password_hash = match state.hasher.hash(form.password.clone()).await {
                Ok(hash) => hash,
                Err(security::HashError::Busy) => {
                    return Ok(crate::platform::web::retry_later(
                        StatusCode::SERVICE_UNAVAILABLE,
                        security::BUSY_RETRY_AFTER,
                        form_again(pages::accept(
                            &invitation,
                            &form.token,
                            None,
                            &pages::AcceptView::CreateAccount {
                                problem: Some(crate::platform::web::HASHING_BUSY),
                                name: form.name.clone(),
                            },
                        )),
                    ));
                }
                Err(err) => return Err(err.into()),
            };
            let mut tx = state.db.write.begin_write().await?;
            let Some(id) = crate::accounts::queries::create_user(
                &mut tx,
                name,
                &invitation.email,
                &password_hash,
            )
            .await?
            else {
                tx.commit().await?;
                return Ok(see_other("/signin"));
            };
            crate::accounts::queries::mark_email_verified(&mut tx, id).await?;
            if people::accept_invitation(&mut tx, &hash, id)
                .await?
                .is_none()
            {
                return Ok(invalid_invitation());
            }
            tx.commit().await?;
            auth::start_session(req, jar, &state, id).await?;
            // Home: a newcomer's checklist and first leads.
            return Ok(see_other("/"));
        }
    };
    let mut tx = state.db.write.begin_write().await?;
    let Some(joined) = people::accept_invitation(&mut tx, &hash, user_id).await? else {
        return Ok(invalid_invitation());
    };
    crate::accounts::queries::mark_email_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    // Someone who just joined wants to work there.
    if let Some(token) = auth::session_token(req) {
        crate::accounts::queries::switch_organization(
            &state.db.write,
            &security::sha256_hex(&token),
            joined,
        )
        .await?;
    }
    Ok(see_other("/prospects"))
}
