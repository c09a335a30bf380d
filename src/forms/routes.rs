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
    forms::fields::{DedupeKey, Field, FieldForm, MAX_FIELDS, STANDARD, check_settings, new_kind},
    forms::queries as form_queries,
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
    let may_edit = user
        .user
        .may(crate::organizations::roles::Action::EditForms);
    Ok(pages::index(
        user.nav(),
        &forms,
        &templates,
        pages::Abilities { is_hq, may_edit },
        new,
    ))
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
    #[serde(default)]
    redirect_url: String,
    /// `email` or `phone` (the edit page only; absent: unchanged).
    #[serde(default)]
    dedupe_key: Option<String>,
}

fn check(form: &FormForm) -> Option<&'static str> {
    if let Err(problem) = crate::forms::branding::parse_url(&form.redirect_url) {
        return Some(problem);
    }
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 120 {
        Some("Give the form a title (up to 120 characters).")
    } else if form.intro.chars().count() > 2000 || form.thank_you.chars().count() > 500 {
        Some("The introduction is limited to 2,000 characters, the thank-you to 500.")
    } else {
        None
    }
}

fn fields_shown(form: &FormForm, problem: Option<&'static str>) -> pages::FormFields {
    pages::FormFields {
        title: form.title.clone(),
        intro: form.intro.clone(),
        thank_you: form.thank_you.clone(),
        redirect_url: form.redirect_url.clone(),
        dedupe_key: form.dedupe_key.clone(),
        problem,
    }
}

/// Whether a form with `fields` may be keyed by `key`: it must have the
/// key's standard field, and a phone key's must be required (an email
/// field is made required when the key becomes email). A message for the
/// person otherwise.
fn check_dedupe_key(key: DedupeKey, fields: &[Field]) -> Option<&'static str> {
    let field = fields.iter().find(|f| f.is_key_field(key));
    match (key, field) {
        (DedupeKey::Phone, Some(phone)) if phone.required => None,
        (DedupeKey::Phone, _) => Some(
            "To key this form by phone, it needs a required Phone field: add the standard Phone field (or tick Required on it) first.",
        ),
        (DedupeKey::Email, Some(_)) => None,
        (DedupeKey::Email, None) => Some(
            "To key this form by email, it needs the Email field: add the standard Email field first.",
        ),
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
        let page = list(&state, &user, &fields_shown(&form, Some(problem))).await?;
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
    let redirect = crate::forms::branding::parse_url(&form.redirect_url).unwrap_or_default();
    if !redirect.is_empty() {
        form_queries::set_redirect(&state.db.write, user.user.organization_id, id, &redirect)
            .await?;
    }
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
        redirect_url: form.redirect_url.clone(),
        dedupe_key: Some(form.dedupe_key().as_str().to_string()),
        problem: None,
    };
    let fields = crate::forms::queries::fields_of(&state.db.read, form.id).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::edit(user.nav(), &form, &values, &fields, None),
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
    let stored = crate::forms::queries::fields_of(&state.db.read, form.id).await?;
    let mut values = values;
    let dedupe_key = match values.dedupe_key.as_deref() {
        None => Ok(form.dedupe_key()),
        Some(text) => DedupeKey::parse(text).ok_or("Choose email or phone as the dedupe key."),
    };
    // Shown again as it was sent, or as it is when it was not.
    values
        .dedupe_key
        .get_or_insert_with(|| form.dedupe_key().as_str().to_string());
    let problem = check(&values).or_else(|| match dedupe_key {
        Err(problem) => Some(problem),
        Ok(key) if key == form.dedupe_key() => None,
        Ok(key) => check_dedupe_key(key, &stored),
    });
    // The editor again, with the values as sent and `problem`.
    let again = |problem| {
        form_again(pages::edit(
            user.nav(),
            &form,
            &fields_shown(&values, Some(problem)),
            &stored,
            None,
        ))
    };
    if let Some(problem) = problem {
        return Ok(again(problem));
    }
    let thanks = if values.thank_you.trim().is_empty() {
        DEFAULT_THANKS
    } else {
        values.thank_you.trim()
    };
    if let Ok(key) = dedupe_key
        && key != form.dedupe_key()
    {
        let mut tx = state.db.write.begin_write().await?;
        // The fields as they are in this transaction, the form's row
        // locked: checked again, so a builder change made meanwhile cannot
        // leave the key unkept.
        form_queries::lock_dedupe_key(&mut tx, user.user.organization_id, form.id).await?;
        let fields =
            form_queries::editable_fields(&mut tx, user.user.organization_id, form.id).await?;
        if let Some(problem) = check_dedupe_key(key, &fields) {
            drop(tx);
            return Ok(again(problem));
        }
        form_queries::set_dedupe_key(&mut tx, user.user.organization_id, form.id, key).await?;
        tx.commit().await?;
    }
    franchise::update_form(
        &state.db.write,
        user.user.organization_id,
        form.id,
        values.title.trim(),
        values.intro.trim(),
        thanks,
    )
    .await?;
    let redirect = crate::forms::branding::parse_url(&values.redirect_url).unwrap_or_default();
    form_queries::set_redirect(
        &state.db.write,
        user.user.organization_id,
        form.id,
        &redirect,
    )
    .await?;
    state.forms.forget(&form.slug);
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
    let fields = crate::forms::queries::fields_of(&state.db.read, chosen.id).await?;
    crate::forms::queries::copy_fields(&mut tx, &fields, user.user.organization_id, copy).await?;
    // The copy is keyed like the template (its fields allow it: they are
    // the template's).
    if chosen.dedupe_key() != DedupeKey::default() {
        form_queries::set_dedupe_key(
            &mut tx,
            user.user.organization_id,
            copy,
            chosen.dedupe_key(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(see_other(&format!("/forms/{copy}/edit")))
}

/// `POST /forms/{id}/fields`: one change of the form builder, by `op`:
/// `add` a field (a kind, or `std:<key>` for a standard field the form
/// lacks), `save` a field's label, help, options and required mark, move
/// it `up` or `down`, or `remove` it (never the field of the form's dedupe
/// key: the email, or the phone of a phone-keyed form; that field is always
/// required whatever is sent). The field acted on (`field`) must be one of this form's, or 404.
/// A problem (no label, a choice without options, a second standard
/// field) shows the page again with the values typed, 422.
#[handler]
pub async fn field_change(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(values): Form<FieldForm>,
) -> AppResult<Response> {
    let form = own_form(&state, &user, &id).await?;
    if !matches!(
        values.op.as_str(),
        "add" | "save" | "up" | "down" | "remove"
    ) {
        return Err(AppError::BadRequest("Unknown change to the form's fields."));
    }
    let org = user.user.organization_id;
    let mut tx = state.db.write.begin_write().await?;
    let dedupe = form_queries::lock_dedupe_key(&mut tx, org, form.id).await?;
    let stored = form_queries::editable_fields(&mut tx, org, form.id).await?;
    let target = if values.op == "add" {
        None
    } else {
        let field_id: i64 = values
            .field
            .trim()
            .parse()
            .map_err(|_| AppError::NotFound)?;
        Some(
            stored
                .iter()
                .position(|f| f.id == field_id)
                .ok_or(AppError::NotFound)?,
        )
    };
    let outcome = match (values.op.as_str(), target) {
        ("add", None) => add_field(&mut tx, org, form.id, &stored, &values).await?,
        ("save", Some(i)) => {
            let field = &stored[i];
            match check_settings(field.kind(), &values) {
                Ok(mut settings) => {
                    if field.is_key_field(dedupe) {
                        settings.required = true;
                    }
                    form_queries::update_field(&mut tx, org, form.id, field.id, &settings).await?;
                    Ok(())
                }
                Err(problem) => Err(problem),
            }
        }
        ("up" | "down", Some(i)) => {
            let mut ids: Vec<i64> = stored.iter().map(|f| f.id).collect();
            let j = if values.op == "up" {
                i.checked_sub(1)
            } else {
                Some(i + 1).filter(|j| *j < ids.len())
            };
            if let Some(j) = j {
                ids.swap(i, j);
                form_queries::reorder_fields(&mut tx, org, form.id, &ids).await?;
            }
            Ok(())
        }
        ("remove", Some(i)) => {
            if stored[i].removable(dedupe) {
                form_queries::remove_field(&mut tx, org, form.id, stored[i].id).await?;
                Ok(())
            } else if dedupe == DedupeKey::Phone {
                Err(
                    "The phone field is this form's dedupe key: it stays while the form is keyed by phone.",
                )
            } else {
                Err("The email field is the dedupe key: every form keyed by email keeps it.")
            }
        }
        _ => return Err(AppError::BadRequest("Unknown change to the form's fields.")),
    };
    match outcome {
        Ok(()) => {
            tx.commit().await?;
            state.forms.forget(&form.slug);
            Ok(see_other(&format!("/forms/{}/edit#fields", form.id)))
        }
        Err(problem) => {
            // Nothing of this change is kept (the standard set a form
            // without rows got is stored again on the next change).
            drop(tx);
            let draft = pages::FieldDraft {
                target: target.map(|i| stored[i].id),
                values,
                problem,
            };
            let shown = pages::FormFields {
                title: form.title.clone(),
                intro: form.intro.clone(),
                thank_you: form.thank_you.clone(),
                redirect_url: form.redirect_url.clone(),
                dedupe_key: Some(form.dedupe_key().as_str().to_string()),
                problem: None,
            };
            let fields = form_queries::fields_of(&state.db.read, form.id).await?;
            Ok(form_again(pages::edit(
                user.nav(),
                &form,
                &shown,
                &fields,
                Some(&draft),
            )))
        }
    }
}

/// Adds the field `values` describe at the end of the form; a problem for
/// the person when it cannot be added.
async fn add_field(
    tx: &mut crate::platform::db::Tx,
    org: i64,
    form_id: i64,
    stored: &[crate::forms::fields::Field],
    values: &FieldForm,
) -> AppResult<Result<(), &'static str>> {
    let Some((kind, key)) = new_kind(&values.kind) else {
        return Ok(Err("Choose what kind of field to add."));
    };
    if stored.len() >= MAX_FIELDS {
        return Ok(Err("A form can have up to 40 fields."));
    }
    if key.is_some_and(|key| stored.iter().any(|f| f.key.as_deref() == Some(key))) {
        return Ok(Err("This form already has that field."));
    }
    // A standard field left unlabelled takes its usual label.
    let mut values = values.clone();
    if values.label.trim().is_empty()
        && let Some((_, _, label, _)) = STANDARD.iter().find(|(k, ..)| Some(*k) == key)
    {
        values.label = label.to_string();
    }
    let settings = match check_settings(kind, &values) {
        Ok(settings) => settings,
        Err(problem) => return Ok(Err(problem)),
    };
    let position = stored.iter().map(|f| f.position).max().unwrap_or(0) + 1;
    form_queries::add_field(tx, org, form_id, position, kind, key, &settings).await?;
    Ok(Ok(()))
}

async fn branding_shown(
    state: &AppState,
    user: &CurrentUser,
    accent: Option<String>,
    problem: Option<&'static str>,
    saved: bool,
) -> AppResult<maud::Markup> {
    let stored = form_queries::branding_of(&state.db.read, user.user.organization_id).await?;
    let values = pages::BrandingFields {
        accent: accent.unwrap_or_else(|| stored.accent.clone()),
        problem,
        saved,
    };
    Ok(pages::branding(user.nav(), &stored, &values))
}

/// Forgets the organization's forms in the public form cache, so a change
/// of branding shows at once.
async fn forget_forms(state: &AppState, organization_id: i64) -> AppResult<()> {
    for form in form_queries::forms_of(&state.db.read, organization_id).await? {
        state.forms.forget(&form.slug);
    }
    Ok(())
}

#[handler]
pub async fn branding_page(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let page = branding_shown(&state, &user, None, None, false).await?;
    Ok(html_response(StatusCode::OK, page))
}

#[derive(Debug, Default, Deserialize)]
pub struct BrandingForm {
    #[serde(default)]
    accent: String,
    #[serde(default)]
    remove_logo: Option<String>,
}

/// `POST /forms/branding`: the organization's accent colour (and, when
/// asked, the logo removed); a bad colour shows the page again with what
/// was typed, 422.
#[handler]
pub async fn branding(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(values): Form<BrandingForm>,
) -> AppResult<Response> {
    let org = user.user.organization_id;
    match crate::forms::branding::parse_accent(&values.accent) {
        Ok(accent) => {
            form_queries::save_accent(&state.db.write, org, &accent).await?;
            if values.remove_logo.is_some() {
                form_queries::save_logo(&state.db.write, org, None).await?;
            }
            forget_forms(&state, org).await?;
            let page = branding_shown(&state, &user, None, None, true).await?;
            Ok(html_response(StatusCode::OK, page))
        }
        Err(problem) => {
            let page =
                branding_shown(&state, &user, Some(values.accent), Some(problem), false).await?;
            Ok(form_again(page))
        }
    }
}

/// `POST /forms/branding/logo` (multipart, field `file`): the logo, a PNG,
/// JPEG, GIF or WebP of at most `forms::branding::LOGO_MAX` bytes; anything
/// else shows the page again with the reason, 422.
#[handler]
pub async fn logo(
    user: CurrentUser,
    state: Data<&AppState>,
    mut multipart: poem::web::Multipart,
) -> AppResult<Response> {
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("The upload could not be read."))?
    {
        if field.name() == Some("file") {
            file = Some(
                field
                    .bytes()
                    .await
                    .map_err(|_| AppError::BadRequest("The file could not be read."))?,
            );
        }
    }
    let org = user.user.organization_id;
    let problem = match file.filter(|f| !f.is_empty()) {
        None => Some("Choose an image file for the logo."),
        Some(bytes) => match crate::forms::branding::check_logo(&bytes) {
            Ok(()) => {
                form_queries::save_logo(&state.db.write, org, Some(&bytes)).await?;
                forget_forms(&state, org).await?;
                None
            }
            Err(problem) => Some(problem),
        },
    };
    let page = branding_shown(&state, &user, None, problem, problem.is_none()).await?;
    Ok(match problem {
        None => html_response(StatusCode::OK, page),
        Some(_) => form_again(page),
    })
}
