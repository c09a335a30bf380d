//! Forms: the queries, and the in-memory cache of public forms.

use std::time::Duration;

use crate::{
    forms::branding::Branding,
    forms::fields::{DedupeKey, EMAIL_KEY, Field, FieldSettings, Kind, standard_fields},
    on_pool, on_tx,
    platform::db::{Pool, Tx, now_ms},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Form {
    pub id: i64,
    pub organization_id: i64,
    pub slug: String,
    pub title: String,
    pub intro: String,
    pub thank_you: String,
    /// Published by a franchise HQ for its locations to copy.
    pub is_template: bool,
    /// The HQ template this form was copied from.
    pub template_id: Option<i64>,
    /// Where people go after submitting (http/https); empty: the
    /// thank-you page.
    #[sqlx(default)]
    pub redirect_url: String,
    /// `email` or `phone` (a [`DedupeKey`] as text): read it with
    /// [`Form::dedupe_key`].
    #[sqlx(default, rename = "dedupe_key")]
    pub dedupe: String,
    /// Its organization's branding: read by [`FormCache::get`].
    #[sqlx(skip)]
    pub branding: Branding,
    /// Its organization's name: read by [`FormCache::get`] (the logo's
    /// alternative text).
    #[sqlx(skip)]
    pub organization_name: String,
    /// Its fields in order: read by [`FormCache::get`] (the public form);
    /// empty where a query read the form alone.
    #[sqlx(skip)]
    pub fields: Vec<Field>,
}

pub(crate) const FORM_COLUMNS: &str =
    "id, organization_id, slug, title, intro, thank_you, is_template, template_id, redirect_url,
    dedupe_key";

impl Form {
    /// What makes two of its submissions one person (email when unset).
    pub fn dedupe_key(&self) -> DedupeKey {
        DedupeKey::parse(&self.dedupe).unwrap_or_default()
    }
}

pub async fn form_by_slug(pool: &Pool, slug: &str) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE slug = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(p)
        .await)
}

pub async fn form_by_id(pool: &Pool, id: i64) -> sqlx::Result<Option<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE id = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Cached forms by slug, with when each was read.
type FormEntries = std::collections::HashMap<String, (std::sync::Arc<Form>, std::time::Instant)>;

/// Public forms by slug, kept in memory for a few seconds: under a burst
/// every submission needs its form, and asking the database each time would
/// put a read in front of every write. A changed form shows within the TTL.
/// Unknown slugs are not cached, so random addresses cannot grow it.
#[derive(Clone)]
pub struct FormCache {
    entries: std::sync::Arc<std::sync::RwLock<FormEntries>>,
    ttl: Duration,
}

impl FormCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Default::default(),
            ttl,
        }
    }

    /// Drops `slug`'s entry: a change made here shows at once in this
    /// process (other processes see it within the TTL).
    pub fn forget(&self, slug: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(slug);
    }

    pub async fn get(&self, pool: &Pool, slug: &str) -> sqlx::Result<Option<std::sync::Arc<Form>>> {
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(form, _)| form.clone());
        if cached.is_some() {
            return Ok(cached);
        }
        // Boxed: the query's future is large, and keeping it inline would
        // make every caller's future (the public form's submit handler, on
        // the hot path) that much larger to create and move.
        let form = match Box::pin(form_by_slug(pool, slug)).await? {
            Some(mut form) => {
                form.fields = Box::pin(fields_of(pool, form.id)).await?;
                form.branding = Box::pin(branding_of(pool, form.organization_id)).await?;
                form.organization_name =
                    crate::organizations::queries::organization(pool, form.organization_id)
                        .await?
                        .map(|o| o.name)
                        .unwrap_or_default();
                Some(std::sync::Arc::new(form))
            }
            None => None,
        };
        if let Some(form) = &form {
            self.entries
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(slug.to_string(), (form.clone(), std::time::Instant::now()));
        }
        Ok(form)
    }
}

pub async fn forms_of(pool: &Pool, organization_id: i64) -> sqlx::Result<Vec<Form>> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM forms WHERE organization_id = $1 ORDER BY title");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .fetch_all(p)
        .await)
}

const FIELD_COLUMNS: &str = "id, position, key, kind, label, help, required, options";

/// Form `form_id`'s fields in order; the standard set when none is stored
/// (a form made by a path that stores none: the demo, a fixture).
pub async fn fields_of(pool: &Pool, form_id: i64) -> sqlx::Result<Vec<Field>> {
    let sql =
        format!("SELECT {FIELD_COLUMNS} FROM form_fields WHERE form_id = $1 ORDER BY position, id");
    let fields: Vec<Field> = on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(form_id)
        .fetch_all(p)
        .await)?;
    Ok(if fields.is_empty() {
        standard_fields()
    } else {
        fields
    })
}

/// The stored fields of form `form_id` of `organization_id`, in order.
async fn stored_fields(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
) -> sqlx::Result<Vec<Field>> {
    let sql = format!(
        "SELECT {FIELD_COLUMNS} FROM form_fields WHERE organization_id = $1 AND form_id = $2 ORDER BY position, id"
    );
    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(form_id)
        .fetch_all(&mut **c)
        .await)
}

async fn insert_field(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
    field: &Field,
) -> sqlx::Result<i64> {
    on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, help, required, options, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(organization_id)
    .bind(form_id)
    .bind(field.position)
    .bind(field.key.as_deref())
    .bind(&field.kind)
    .bind(&field.label)
    .bind(&field.help)
    .bind(field.required)
    .bind(&field.options)
    .bind(now_ms())
    .fetch_one(&mut **c)
    .await)
}

/// Form `form_id`'s stored fields, storing the standard set first when it
/// has none (so the builder always edits rows). The caller has checked the
/// form is `organization_id`'s.
pub async fn editable_fields(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
) -> sqlx::Result<Vec<Field>> {
    let fields = stored_fields(tx, organization_id, form_id).await?;
    if !fields.is_empty() {
        return Ok(fields);
    }
    for field in standard_fields() {
        insert_field(tx, organization_id, form_id, &field).await?;
    }
    stored_fields(tx, organization_id, form_id).await
}

/// Copies `from`'s fields (the standard set when it stores none) onto the
/// new form `to` of `organization_id`: a location's copy of an HQ template.
pub async fn copy_fields(
    tx: &mut Tx,
    from: &[Field],
    organization_id: i64,
    to: i64,
) -> sqlx::Result<()> {
    for field in from {
        insert_field(tx, organization_id, to, field).await?;
    }
    Ok(())
}

/// Adds a field at the end of form `form_id`; its id.
pub async fn add_field(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
    position: i64,
    kind: Kind,
    key: Option<&str>,
    settings: &FieldSettings,
) -> sqlx::Result<i64> {
    let field = Field {
        id: 0,
        position,
        key: key.map(str::to_string),
        kind: kind.as_str().to_string(),
        label: settings.label.clone(),
        help: settings.help.clone(),
        required: settings.required,
        options: settings.options.clone(),
    };
    insert_field(tx, organization_id, form_id, &field).await
}

/// Sets field `id`'s label, help, options and whether it is required.
pub async fn update_field(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
    id: i64,
    settings: &FieldSettings,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE form_fields SET label = $4, help = $5, required = $6, options = $7
         WHERE organization_id = $1 AND form_id = $2 AND id = $3",
    )
    .bind(organization_id)
    .bind(form_id)
    .bind(id)
    .bind(&settings.label)
    .bind(&settings.help)
    .bind(settings.required)
    .bind(&settings.options)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Sets the fields' positions to their order in `ids` (1, 2, …).
pub async fn reorder_fields(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
    ids: &[i64],
) -> sqlx::Result<()> {
    for (i, id) in ids.iter().enumerate() {
        on_tx!(tx, c => sqlx::query(
            "UPDATE form_fields SET position = $4 WHERE organization_id = $1 AND form_id = $2 AND id = $3",
        )
        .bind(organization_id)
        .bind(form_id)
        .bind(id)
        .bind(i as i64 + 1)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    }
    Ok(())
}

pub async fn remove_field(
    tx: &mut Tx,
    organization_id: i64,
    form_id: i64,
    id: i64,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "DELETE FROM form_fields WHERE organization_id = $1 AND form_id = $2 AND id = $3",
    )
    .bind(organization_id)
    .bind(form_id)
    .bind(id)
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Form `id`'s dedupe key as stored, its row locked until the transaction
/// ends (on Postgres; SQLite's write transaction excludes every other
/// writer anyway): a builder change and a change of the key never pass
/// each other, so the key's field cannot be removed or made optional under
/// a key being set. Email when the form is not there.
pub async fn lock_dedupe_key(
    tx: &mut Tx,
    organization_id: i64,
    id: i64,
) -> sqlx::Result<DedupeKey> {
    let key: Option<String> = on_tx!(tx, c => sqlx::query_scalar(
        "UPDATE forms SET dedupe_key = dedupe_key WHERE organization_id = $1 AND id = $2 RETURNING dedupe_key",
    )
    .bind(organization_id)
    .bind(id)
    .fetch_optional(&mut **c)
    .await)?;
    Ok(key
        .as_deref()
        .and_then(DedupeKey::parse)
        .unwrap_or_default())
}

/// Sets form `id`'s dedupe key (the caller has checked the form's fields
/// allow it: `forms::routes`). Back to email, the email field is made
/// required again.
pub async fn set_dedupe_key(
    tx: &mut Tx,
    organization_id: i64,
    id: i64,
    key: DedupeKey,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE forms SET dedupe_key = $3 WHERE organization_id = $1 AND id = $2",
    )
    .bind(organization_id)
    .bind(id)
    .bind(key.as_str())
    .execute(&mut **c)
    .await
    .map(|_| ()))?;
    if key == DedupeKey::Email {
        on_tx!(tx, c => sqlx::query(
            "UPDATE form_fields SET required = TRUE WHERE organization_id = $1 AND form_id = $2 AND key = $3",
        )
        .bind(organization_id)
        .bind(id)
        .bind(EMAIL_KEY)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    }
    Ok(())
}

/// `organization_id`'s branding; Rally's own (empty) when none was set.
pub async fn branding_of(pool: &Pool, organization_id: i64) -> sqlx::Result<Branding> {
    let found: Option<Branding> = on_pool!(pool, p => sqlx::query_as(
        "SELECT logo, accent FROM organization_branding WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_optional(p)
    .await)?;
    Ok(found.unwrap_or_default())
}

/// Sets `organization_id`'s accent colour (checked by
/// `forms::branding::parse_accent`; empty for Rally's own).
pub async fn save_accent(pool: &Pool, organization_id: i64, accent: &str) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "INSERT INTO organization_branding (organization_id, accent, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (organization_id) DO UPDATE SET accent = excluded.accent, updated_at = excluded.updated_at",
    )
    .bind(organization_id)
    .bind(accent)
    .bind(now_ms())
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Sets (or with `None` removes) `organization_id`'s logo (checked by
/// `forms::branding::check_logo`).
pub async fn save_logo(pool: &Pool, organization_id: i64, logo: Option<&[u8]>) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "INSERT INTO organization_branding (organization_id, logo, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (organization_id) DO UPDATE SET logo = excluded.logo, updated_at = excluded.updated_at",
    )
    .bind(organization_id)
    .bind(logo)
    .bind(now_ms())
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Sets where form `id` of `organization_id` sends people after they
/// submit (checked by `forms::branding::parse_url`; empty: the thank-you
/// page).
pub async fn set_redirect(
    pool: &Pool,
    organization_id: i64,
    id: i64,
    redirect_url: &str,
) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query(
        "UPDATE forms SET redirect_url = $3 WHERE organization_id = $1 AND id = $2",
    )
    .bind(organization_id)
    .bind(id)
    .bind(redirect_url)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The starter form every new organization gets on sign-up: name, email,
/// phone and consent (the first two required), titled after the
/// organization; its id. The first-run checklist asks to adjust it.
pub async fn create_starter_form(
    tx: &mut Tx,
    organization_id: i64,
    organization_name: &str,
) -> sqlx::Result<i64> {
    let id = crate::organizations::locations::queries::create_form(
        tx,
        organization_id,
        &format!("Get in touch with {organization_name}"),
        "Leave your details and we will get back to you.",
        "Thank you! We will be in touch soon.",
        None,
    )
    .await?;
    let starter: Vec<Field> = standard_fields()
        .into_iter()
        .filter(|f| {
            matches!(
                f.key.as_deref(),
                Some("name" | "email" | "phone" | "consent")
            )
        })
        .enumerate()
        .map(|(i, f)| Field {
            position: i as i64 + 1,
            ..f
        })
        .collect();
    copy_fields(tx, &starter, organization_id, id).await?;
    Ok(id)
}

/// Whether `organization_id` has made its forms its own: a field of its
/// own on a form, branding set, or more than one form (the first-run
/// checklist's "adjust your form").
pub async fn forms_adjusted(pool: &Pool, organization_id: i64) -> sqlx::Result<bool> {
    on_pool!(pool, p => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM form_fields WHERE organization_id = $1 AND key IS NULL)
             OR EXISTS (SELECT 1 FROM organization_branding WHERE organization_id = $1)
             OR (SELECT COUNT(*) FROM forms WHERE organization_id = $1) > 1",
    )
    .bind(organization_id)
    .fetch_one(p)
    .await)
}
