//! CSV import of prospects: upload → preview of what will happen (new,
//! merged, left alone, invalid) → confirm. Nothing is written before the
//! confirmation; the file is kept between the two steps.

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form, Multipart, Path},
};

use super::{AppState, CsrfForm, CurrentUser, html_response, see_other};
use crate::{
    db::{Scope, prospects as work},
    error::{AppError, AppResult},
    import,
    views::imports as pages,
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
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("The upload could not be read."))?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or("import.csv").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| AppError::BadRequest("The file could not be read."))?;
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    user.check_csrf(&csrf)?;
    let refuse = |message: String| {
        Ok(html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::upload(user.nav(), Some(&message)),
        ))
    };
    let Some((filename, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return refuse("Choose a CSV file to import.".into());
    };
    if bytes.len() > import::MAX_BYTES {
        return refuse(format!(
            "That file is over {} MiB: split it.",
            import::MAX_BYTES / 1024 / 1024
        ));
    }
    let Ok(content) = String::from_utf8(bytes) else {
        return refuse(
            "That file is not text in UTF-8: save it as “CSV UTF-8” and try again.".into(),
        );
    };
    // Text Rally can store on either database: no NUL or other control
    // characters but tabs and line breaks.
    if let Some(c) = content
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return refuse(format!(
            "That file contains a control character ({}) that Rally cannot store: is it a CSV file?",
            c.escape_unicode()
        ));
    }
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

/// The preview (or, once applied, what was done).
#[handler]
pub async fn preview(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let stored = load(&state, &user, &id).await?;
    let rows =
        import::parse(&stored.content).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let plan = import::plan(&state.db.read, Scope::of(&user.user), rows).await?;
    Ok(html_response(
        StatusCode::OK,
        pages::preview(user.nav(), &stored, &plan),
    ))
}

#[handler]
pub async fn confirm(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> AppResult<Response> {
    user.check_csrf(&form.csrf)?;
    let stored = load(&state, &user, &id).await?;
    if stored.applied_at.is_some() {
        return Ok(see_other(&format!("/prospects/import/{}", stored.id)));
    }
    let rows =
        import::parse(&stored.content).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let scope = Scope::of(&user.user);
    // Planned again at the moment of writing: what is stored may have
    // changed since the preview.
    let plan = import::plan(&state.db.read, scope, rows).await?;
    let mut tx = state.db.write.begin_write().await?;
    if work::mark_import_applied(&mut tx, stored.id).await? {
        let source = format!("import:{}", stored.filename);
        let written = import::apply(
            &mut tx,
            user.user.organization_id,
            scope.owner,
            &plan,
            &source,
        )
        .await?;
        tracing::info!(import = stored.id, written, "import applied");
    }
    tx.commit().await?;
    Ok(see_other(&format!("/prospects/import/{}", stored.id)))
}
