//! Forms: an organization's own forms (create, edit), and franchise
//! templates: HQ publishes a form as a template; its locations copy one
//! and customise their copy. Who may do which: `crate::organizations::roles`.

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{form_again, html_response, see_other},
};
use crate::{
    forms::views as pages,
    organizations::locations::queries as franchise,
    platform::error::{AppError, AppResult},
};

/// HQ's id when the user's organization is a franchise location.
async fn hq_of(state: &AppState, user: &CurrentUser) -> AppResult<Option<i64>> {
    Ok(
        crate::organizations::queries::organization(&state.db.read, user.user.organization_id)
            .await?
            .and_then(|o| o.parent_id),
    )
}

/// The forms page, with `new` in its "new form" fields.
async fn list(
    state: &AppState,
    user: &CurrentUser,
    new: &pages::FormFields,
) -> AppResult<maud::Markup> {
    let forms = crate::forms::queries::forms_of(&state.db.read, user.user.organization_id).await?;
    let templates = match hq_of(state, user).await? {
        Some(hq) => franchise::templates(&state.db.read, hq).await?,
        None => Vec::new(),
    };
    let is_hq =
        crate::organizations::queries::organization(&state.db.read, user.user.organization_id)
            .await?
            .is_some_and(|o| o.is_hq());
    Ok(pages::index(user.nav(), &forms, &templates, is_hq, new))
}

#[handler]
pub async fn index(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let page = list(&state, &user, &pages::FormFields::default()).await?;
    Ok(html_response(StatusCode::OK, page))
}

#[derive(Debug, Default, Deserialize)]
pub struct FormForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    intro: String,
    #[serde(default)]
    thank_you: String,
}

fn check(form: &FormForm) -> Option<&'static str> {
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 120 {
        Some("Give the form a title (up to 120 characters).")
    } else if form.intro.chars().count() > 2000 || form.thank_you.chars().count() > 500 {
        Some("The introduction is limited to 2,000 characters, the thank-you to 500.")
    } else {
        None
    }
}

fn fields(form: &FormForm, problem: Option<&'static str>) -> pages::FormFields {
    pages::FormFields {
        title: form.title.clone(),
        intro: form.intro.clone(),
        thank_you: form.thank_you.clone(),
        problem,
    }
}

const DEFAULT_THANKS: &str = "Thank you! We will be in touch soon.";

#[handler]
pub async fn create(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<FormForm>,
) -> AppResult<Response> {
    if let Some(problem) = check(&form) {
        let page = list(&state, &user, &fields(&form, Some(problem))).await?;
        return Ok(form_again(page));
    }
    let thanks = if form.thank_you.trim().is_empty() {
        DEFAULT_THANKS
    } else {
        form.thank_you.trim()
    };
    let mut tx = state.db.write.begin_write().await?;
    let id = franchise::create_form(
        &mut tx,
        user.user.organization_id,
        form.title.trim(),
        form.intro.trim(),
        thanks,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/forms/{id}/edit")))
}

async fn own_form(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> AppResult<crate::forms::queries::Form> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    franchise::form(&state.db.read, user.user.organization_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

#[handler]
pub async fn edit_page(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let form = own_form(&state, &user, &id).await?;
    let values = pages::FormFields {
        title: form.title.clone(),
        intro: form.intro.clone(),
        thank_you: form.thank_you.clone(),
        problem: None,
    };
    Ok(html_response(
        StatusCode::OK,
        pages::edit(user.nav(), &form, &values),
    ))
}

#[handler]
pub async fn edit(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(values): Form<FormForm>,
) -> AppResult<Response> {
    let form = own_form(&state, &user, &id).await?;
    if let Some(problem) = check(&values) {
        return Ok(form_again(pages::edit(
            user.nav(),
            &form,
            &fields(&values, Some(problem)),
        )));
    }
    let thanks = if values.thank_you.trim().is_empty() {
        DEFAULT_THANKS
    } else {
        values.thank_you.trim()
    };
    franchise::update_form(
        &state.db.write,
        user.user.organization_id,
        form.id,
        values.title.trim(),
        values.intro.trim(),
        thanks,
    )
    .await?;
    Ok(see_other("/forms"))
}

#[derive(Debug, Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    publish: String,
}

/// HQ publishes (or withdraws) a form as a template for its locations.
#[handler]
pub async fn template(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<TemplateForm>,
) -> AppResult<Response> {
    let own = own_form(&state, &user, &id).await?;
    let is_hq =
        crate::organizations::queries::organization(&state.db.read, user.user.organization_id)
            .await?
            .is_some_and(|o| o.is_hq());
    if !is_hq {
        return Err(AppError::Forbidden(
            "Only a franchise HQ publishes templates.",
        ));
    }
    franchise::set_template(
        &state.db.write,
        user.user.organization_id,
        own.id,
        form.publish == "yes",
    )
    .await?;
    Ok(see_other("/forms"))
}

/// A location copies one of its HQ's templates, then customises the copy.
#[handler]
pub async fn copy(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let hq = hq_of(&state, &user).await?.ok_or(AppError::NotFound)?;
    let chosen = franchise::templates(&state.db.read, hq)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(AppError::NotFound)?;
    let mut tx = state.db.write.begin_write().await?;
    let copy = franchise::create_form(
        &mut tx,
        user.user.organization_id,
        &format!("{} – {}", chosen.title, user.user.organization_name),
        &chosen.intro,
        &chosen.thank_you,
        Some(chosen.id),
    )
    .await?;
    tx.commit().await?;
    Ok(see_other(&format!("/forms/{copy}/edit")))
}
