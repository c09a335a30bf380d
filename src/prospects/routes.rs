//! The signed-in user's prospects: searchable list, quick add, detail with
//! timeline, edits (stage, owner, tags), notes, and CSV export. What a user
//! sees is their [`Scope`]: a member their own prospects, everyone else the
//! organization's; anything outside it is "not found".

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{form_again, html_response, see_other},
};
use crate::{
    organizations::queries as people,
    platform::{
        db::Scope,
        error::{AppError, AppResult},
        text::fields,
    },
    prospects::{queries as work, queries::Changes, views as pages},
};

#[handler]
pub async fn show(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let prospect = visible(&state, &user, &id).await?;
    let page =
        crate::tasks::routes::prospect_page(&state, &user, &prospect, &Default::default()).await?;
    Ok(html_response(StatusCode::OK, page))
}

/// Prospect `id` (from the path) if the user's scope may see it.
async fn visible(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> AppResult<crate::prospects::queries::Prospect> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    crate::prospects::queries::prospect(&state.db.read, Scope::of(&user.user), id)
        .await?
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
pub struct QuickAddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

/// Quick add: three fields, the prospect owned by whoever adds it.
#[handler]
pub async fn create(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<QuickAddForm>,
) -> AppResult<Response> {
    // The same field rules as the public form, edit and import.
    let mut problems = Vec::new();
    let name = fields::name(&form.name);
    let email = fields::email(&form.email);
    let phone = fields::phone(&form.phone);
    for (field, err) in [
        ("name", name.as_ref().err()),
        ("email", email.as_ref().err()),
        ("phone", phone.as_ref().err()),
    ] {
        if let Some(err) = err {
            problems.push((field, err.message()));
        }
    }
    let again =
        |problems: Vec<(&'static str, &'static str)>, existing: Option<i64>| pages::QuickAdd {
            name: form.name.clone(),
            email: form.email.clone(),
            phone: form.phone.clone(),
            problems,
            existing,
        };
    let (Ok(name), Ok(email), Ok(phone)) = (name, email, phone) else {
        return quick_add_again(&user, &state, again(problems, None)).await;
    };
    let mut tx = state.db.write.begin_write().await?;
    let added = work::quick_add(
        &mut tx,
        user.user.organization_id,
        user.user.user_id,
        &name,
        email.as_str(),
        phone.as_ref().map(|p| p.as_str()),
    )
    .await?;
    tx.commit().await?;
    match added {
        Ok(id) => Ok(see_other(&format!("/prospects/{id}"))),
        Err(work::Exists(id)) => {
            // Link to it only if this user may open it.
            let visible =
                crate::prospects::queries::prospect(&state.db.read, Scope::of(&user.user), id)
                    .await?
                    .map(|p| p.id);
            let problems = vec![("email", "This email is already a prospect.")];
            quick_add_again(&user, &state, again(problems, visible)).await
        }
    }
}

async fn quick_add_again(
    user: &CurrentUser,
    state: &AppState,
    form: pages::QuickAdd,
) -> AppResult<Response> {
    let extras = crate::prospects::list::Extras {
        quick: form,
        ..Default::default()
    };
    crate::prospects::list::render(
        false,
        user,
        state,
        &Default::default(),
        &crate::prospects::filters::Position::First,
        Vec::new(),
        &extras,
    )
    .await
}

fn may_assign(user: &CurrentUser) -> bool {
    user.user
        .may(crate::organizations::roles::Action::AssignProspects)
}

#[handler]
pub async fn edit_page(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let prospect = visible(&state, &user, &id).await?;
    let tags = work::tags(&state.db.read, prospect.id).await?.join(", ");
    let members = if may_assign(&user) {
        people::members(&state.db.read, user.user.organization_id).await?
    } else {
        Vec::new()
    };
    let form = pages::ProspectEdit::from_prospect(&prospect, tags);
    Ok(html_response(
        StatusCode::OK,
        pages::prospect_edit(user.nav(), &prospect, &form, &members),
    ))
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    /// A corrected email; absent (an older form) keeps the stored one.
    email: Option<String>,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    stage: String,
    owner: Option<String>,
    #[serde(default)]
    tags: String,
    /// `yes`: the person confirmed merging the prospect that has the new
    /// email into this one.
    #[serde(default)]
    merge: String,
}

#[handler]
pub async fn edit(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> AppResult<Response> {
    let scope = Scope::of(&user.user);
    let prospect = visible(&state, &user, &id).await?;
    let id = prospect.id;
    let members = if may_assign(&user) {
        people::members(&state.db.read, user.user.organization_id).await?
    } else {
        Vec::new()
    };
    // The same field rules as the public form, quick add and import: a
    // prospect that came in through any of them can be edited.
    let mut problems = Vec::new();
    let name = fields::name(&form.name);
    let phone = fields::phone(&form.phone);
    let company = fields::company(&form.company);
    // A prospect without an email (keyed by phone) may stay without one.
    let email = match &form.email {
        None => Ok(None),
        Some(raw) if prospect.email.is_empty() && raw.trim().is_empty() => Ok(None),
        Some(raw) => fields::email(raw).map(Some),
    };
    for (field, err) in [
        ("name", name.as_ref().err()),
        ("email", email.as_ref().err()),
        ("phone", phone.as_ref().err()),
        ("company", company.as_ref().err()),
    ] {
        if let Some(err) = err {
            problems.push((field, err.message()));
        }
    }
    // The stage is parsed here, at the edge: anything but one of the six
    // is the form back with its message.
    let stage = form.stage.parse::<crate::prospects::Stage>();
    if stage.is_err() {
        problems.push(("stage", "Choose a stage."));
    }
    // Only managers and above assign; the owner must be a member here.
    let owner = match (&form.owner, may_assign(&user)) {
        (Some(raw), true) if raw.is_empty() => Some(None),
        (Some(raw), true) => match raw.parse::<i64>() {
            Ok(id) if members.iter().any(|m| m.user_id == id) => Some(Some(id)),
            _ => {
                problems.push(("owner", "Choose a member of your organization."));
                None
            }
        },
        _ => None,
    };
    let again = |problems| pages::ProspectEdit {
        name: form.name.clone(),
        email: form
            .email
            .clone()
            .unwrap_or_else(|| crate::platform::text::display_email(&prospect.email).into_owned()),
        phone: form.phone.clone(),
        company: form.company.clone(),
        stage: form.stage.clone(),
        owner: form.owner.clone().unwrap_or_default(),
        tags: form.tags.clone(),
        problems,
    };
    let (Ok(name), Ok(email), Ok(phone), Ok(company), Ok(stage), true) =
        (name, email, phone, company, stage, problems.is_empty())
    else {
        return Ok(form_again(pages::prospect_edit(
            user.nav(),
            &prospect,
            &again(problems),
            &members,
        )));
    };
    let changes = Changes {
        name,
        phone: phone.map(|p| p.as_str().to_string()),
        company,
        stage,
        owner,
        tags: work::parse_tags(&form.tags),
    };
    // A corrected email is the dedupe key: when another live prospect of
    // the organization has it, the two are merged into this one (after a
    // confirmation, by someone who may merge), or the form comes back.
    let new_email = email
        .map(|e| e.as_str().to_string())
        .filter(|e| *e != prospect.email);
    let by = &user.user.user_name;
    let mut tx = state.db.write.begin_write().await?;
    let mut merged = None;
    if let Some(new) = &new_email
        && let Some((other_id, _)) =
            crate::prospects::lifecycle::live_with_email(&mut tx, prospect.organization_id, new, id)
                .await?
    {
        let other = work::prospect(&state.db.read, scope, other_id).await?;
        let other = other.filter(|_| {
            user.user
                .may(crate::organizations::roles::Action::DeleteProspects)
        });
        let Some(other) = other else {
            drop(tx);
            let problems = vec![(
                "email",
                "Another prospect has this email. A manager can merge the two.",
            )];
            return Ok(form_again(pages::prospect_edit(
                user.nav(),
                &prospect,
                &again(problems),
                &members,
            )));
        };
        if form.merge != "yes" {
            drop(tx);
            let mut hidden = vec![
                ("name", form.name.clone()),
                ("email", form.email.clone().unwrap_or_default()),
                ("phone", form.phone.clone()),
                ("company", form.company.clone()),
                ("stage", form.stage.clone()),
                ("tags", form.tags.clone()),
            ];
            if let Some(owner) = &form.owner {
                hidden.push(("owner", owner.clone()));
            }
            return Ok(html_response(
                StatusCode::OK,
                crate::prospects::merge::email_taken_page(&user, &prospect, &other, &hidden),
            ));
        }
        merged = Some(other.id);
    }
    work::update(&state.db.read, &mut tx, scope, id, &changes, by).await?;
    // After the edit, so the merge fills what the edit left blank.
    if let Some(other) = merged {
        crate::prospects::lifecycle::merge(&mut tx, id, other, by).await?;
        people::audit(
            &mut tx,
            user.user.organization_id,
            Some(user.user.user_id),
            "prospects_merged",
            None,
            &format!("prospect {other} merged into prospect {id} (email corrected)"),
        )
        .await?;
    }
    if let Some(new) = &new_email {
        crate::prospects::lifecycle::correct_email(&mut tx, id, new, by).await?;
    }
    // A lead given to someone else: they are told (unless they turned it off).
    if let Some(Some(assignee)) = changes.owner
        && prospect.owner_user_id != Some(assignee)
        && assignee != user.user.user_id
    {
        let assignment = crate::notifications::Assignment {
            organization_id: prospect.organization_id,
            assignee,
            prospect_id: id,
            prospect_name: &changes.name,
            by: &user.user.user_name,
            at: crate::platform::db::now_ms(),
        };
        crate::notifications::assigned(&mut tx, &state.queue, &assignment).await?;
    }
    tx.commit().await?;
    Ok(see_other(&format!("/prospects/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

#[handler]
pub async fn add_note(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let note = fields::note(&form.note).map_err(|e| AppError::BadRequest(e.message()))?;
    let mut tx = state.db.write.begin_write().await?;
    let added = work::add_note(
        &state.db.read,
        &mut tx,
        Scope::of(&user.user),
        id,
        &user.user.user_name,
        &note,
    )
    .await?;
    tx.commit().await?;
    if !added {
        return Err(AppError::NotFound);
    }
    Ok(see_other(&format!("/prospects/{id}")))
}

/// The signed-in person as the export's viewer: their organization and zone.
pub(crate) fn export_viewer(user: &CurrentUser) -> crate::prospects::export::Viewer {
    crate::prospects::export::Viewer {
        organization_id: user.user.organization_id,
        zone: user.user.zone(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// `semicolon` for Excel where the decimal mark is a comma.
    sep: Option<String>,
}

/// The prospects this user may see, as CSV (`?sep=semicolon`: cells
/// separated by `;`).
#[handler]
pub async fn export(
    user: CurrentUser,
    state: Data<&AppState>,
    Query(query): Query<ExportQuery>,
) -> AppResult<Response> {
    let scope = Scope::of(&user.user);
    let rows = crate::prospects::queries::all_prospects(&state.db.read, scope).await?;
    let extras = crate::prospects::queries::export_extras(&state.db.read, scope).await?;
    let mut out = Vec::new();
    let separator = crate::prospects::export::Separator::from_query(query.sep.as_deref());
    crate::prospects::export::write_csv_with(
        &rows,
        &extras,
        export_viewer(&user),
        separator,
        &mut out,
    )?;
    Ok(Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(
            "content-disposition",
            "attachment; filename=\"prospects.csv\"",
        )
        .body(out))
}
