//! CSV import of prospects: upload → preview of what will happen (new,
//! merged, left alone, invalid) → confirm → result. Nothing is written
//! before the confirmation; the file is kept between the two steps. The
//! confirmation writes only the plan that was previewed (its digest comes
//! back with the form), and the result page shows what was applied.

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Multipart, Path},
};

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{form_again, html_response, see_other},
};
use crate::{
    platform::{
        db::Scope,
        error::{AppError, AppResult},
    },
    prospects::{import, import::views as pages, queries as work},
};

#[handler]
pub fn page(user: CurrentUser) -> Response {
    html_response(StatusCode::OK, pages::upload(user.nav(), None))
}

#[handler]
pub async fn upload(
    user: CurrentUser,
    state: Data<&AppState>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("The upload could not be read."))?
    {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("import.csv").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|_| AppError::BadRequest("The file could not be read."))?;
            file = Some((name, bytes));
        }
    }
    let refuse = |message: String| Ok(form_again(pages::upload(user.nav(), Some(&message))));
    let Some((filename, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return refuse("Choose a CSV file to import.".into());
    };
    if bytes.len() > import::MAX_BYTES {
        return refuse(format!(
            "That file is over {} MiB: split it.",
            import::MAX_BYTES / 1024 / 1024
        ));
    }
    let content = match import::decode(bytes) {
        Ok(content) => content,
        Err(why) => return refuse(why.into()),
    };
    // `decode` refused NUL (a binary file; Postgres cannot store it);
    // other control characters in a cell (a vertical tab for a line break
    // in some exports) are cleaned by the field rules, like a form's.
    if let Err(why) = import::parse(&content) {
        return refuse(format!("That file cannot be imported: {why}."));
    }
    let filename: String = filename
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let id = work::create_import(
        &state.db.write,
        user.user.organization_id,
        user.user.user_id,
        &filename,
        &content,
    )
    .await?;
    Ok(see_other(&format!("/prospects/import/{id}")))
}

async fn load(state: &AppState, user: &CurrentUser, id: &str) -> AppResult<work::Import> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    work::import(
        &state.db.read,
        user.user.organization_id,
        user.user.user_id,
        id,
    )
    .await?
    .ok_or(AppError::NotFound)
}

/// The preview (or, once applied, what was applied).
#[handler]
pub async fn preview(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let stored = load(&state, &user, &id).await?;
    if stored.applied_at.is_some() {
        let outcome = import::outcome(&state.db.read, stored.id).await?;
        return Ok(html_response(
            StatusCode::OK,
            pages::result(user.nav(), &stored, outcome.as_ref()),
        ));
    }
    let plan = plan(&state, &user, &stored).await?;
    let layout = import::layout(&stored.content);
    Ok(html_response(
        StatusCode::OK,
        pages::preview(user.nav(), &stored, &plan, layout.as_ref(), None),
    ))
}

async fn plan(
    state: &AppState,
    user: &CurrentUser,
    stored: &work::Import,
) -> AppResult<import::Plan> {
    // The file was read at upload: it can only fail now if the rules changed.
    let rows =
        import::parse(&stored.content).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok(import::plan(&state.db.read, Scope::of(&user.user), rows).await?)
}

#[derive(Debug, serde::Deserialize)]
pub struct ConfirmForm {
    /// [`import::Plan::digest`] of the preview that was confirmed (the
    /// preview's form always sends it).
    #[serde(default)]
    pub plan: Option<String>,
}

/// Applies the previewed plan. Planned again first: if that gives another
/// plan than the preview's digest says (a prospect was added or changed
/// since), nothing is written and the new preview comes back with 409 and
/// a notice. A confirmation without a digest (a client that never showed
/// the preview) applies the plan as it is now; either way the outcome kept
/// and shown is what was written.
#[handler]
pub async fn confirm(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let stored = load(&state, &user, &id).await?;
    if stored.applied_at.is_some() {
        return Ok(see_other(&format!("/prospects/import/{}", stored.id)));
    }
    let plan = plan(&state, &user, &stored).await?;
    if form.plan.is_some_and(|seen| seen != plan.digest()) {
        return Ok(html_response(
            StatusCode::CONFLICT,
            pages::preview(
                user.nav(),
                &stored,
                &plan,
                import::layout(&stored.content).as_ref(),
                Some(
                    "Your prospects changed since this preview was made, so nothing was \
                     imported. This is what the import would do now: check it, then import.",
                ),
            ),
        ));
    }
    let scope = Scope::of(&user.user);
    let mut tx = state.db.write.begin_write().await?;
    if work::mark_import_applied(&mut tx, stored.id).await? {
        let source = format!("import:{}", stored.filename);
        let outcome = import::apply(
            &mut tx,
            user.user.organization_id,
            scope.owner,
            &plan,
            &source,
        )
        .await?;
        import::record_outcome(&mut tx, stored.id, &outcome).await?;
        tracing::info!(
            import = stored.id,
            new = outcome.new_count(),
            merged = outcome.merge_count(),
            left_out = outcome.skip_count(),
            "import applied"
        );
    }
    tx.commit().await?;
    Ok(see_other(&format!("/prospects/import/{}", stored.id)))
}
