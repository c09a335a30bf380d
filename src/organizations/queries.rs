//! People of an organization: members and their roles, invitations,
//! ownership, and the audit log of it all. Every query is scoped to the
//! organization it is given.

use std::time::Duration;

use crate::platform::db::{Pool, Tx, now_ms};
use crate::platform::money::Currency;
use crate::{on_pool, on_tx, organizations::roles::Role};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: i64,
}

pub async fn members(pool: &Pool, organization_id: i64) -> sqlx::Result<Vec<Member>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id AS user_id, u.name, u.email, m.role, m.created_at AS joined_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'manager' THEN 2 ELSE 3 END, u.name",
    )
    .bind(organization_id)
    .fetch_all(p)
    .await)
}

pub async fn member(
    pool: &Pool,
    organization_id: i64,
    user_id: i64,
) -> sqlx::Result<Option<Member>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT u.id AS user_id, u.name, u.email, m.role, m.created_at AS joined_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.user_id = $2",
    )
    .bind(organization_id)
    .bind(user_id)
    .fetch_optional(p)
    .await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invitation {
    pub id: i64,
    pub organization_id: i64,
    pub organization_name: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const INVITATION_COLUMNS: &str =
    "i.id, i.organization_id, o.name AS organization_name, i.email, i.role,
    i.created_at, i.expires_at, i.accepted_at, i.revoked_at";

/// Invitations still waiting for an answer.
pub async fn pending_invitations(
    pool: &Pool,
    organization_id: i64,
) -> sqlx::Result<Vec<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.organization_id
         WHERE i.organization_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2
         ORDER BY i.created_at DESC"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(now_ms())
        .fetch_all(p)
        .await)
}

/// A pending invitation of the organization by its id (not accepted,
/// revoked or expired).
pub async fn pending_invitation(
    pool: &Pool,
    organization_id: i64,
    id: i64,
) -> sqlx::Result<Option<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.organization_id
         WHERE i.organization_id = $1 AND i.id = $2 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $3"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(organization_id)
        .bind(id)
        .bind(now_ms())
        .fetch_optional(p)
        .await)
}

/// A usable invitation by its token's hash (not accepted, revoked or expired).
pub async fn invitation_by_token(
    pool: &Pool,
    token_hash: &str,
) -> sqlx::Result<Option<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN organizations o ON o.id = i.organization_id
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2"
    );
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(p)
        .await)
}

/// Stores an invitation; returns its id.
pub async fn create_invitation(
    tx: &mut Tx,
    organization_id: i64,
    email: &str,
    role: Role,
    token_hash: &str,
    invited_by: i64,
    ttl: Duration,
) -> sqlx::Result<i64> {
    let now = now_ms();
    // Inviting the same address again replaces the pending invitation (the
    // newest link works; the list shows one), as "resend" does elsewhere.
    end_pending_invitations(tx, organization_id, email, now).await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(organization_id)
    .bind(email)
    .bind(role.as_str())
    .bind(token_hash)
    .bind(invited_by)
    .bind(now)
    .bind(now + ttl.as_millis() as i64)
    .fetch_one(&mut **c)
    .await)?;
    audit(
        tx,
        organization_id,
        Some(invited_by),
        "member_invited",
        None,
        &format!("{email} as {role}"),
    )
    .await?;
    Ok(id)
}

/// Ends every pending invitation of `email` to the organization at `now`
/// (ms): re-invited (a new invitation replaces it) or joined.
async fn end_pending_invitations(
    tx: &mut Tx,
    organization_id: i64,
    email: &str,
    now: i64,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE invitations SET revoked_at = $3
         WHERE organization_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(organization_id)
    .bind(email)
    .bind(now)
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// Revokes a pending invitation of the organization. False if none.
pub async fn revoke_invitation(
    tx: &mut Tx,
    organization_id: i64,
    id: i64,
    actor: i64,
) -> sqlx::Result<bool> {
    let email: Option<String> = on_tx!(tx, c => sqlx::query_scalar(
        "UPDATE invitations SET revoked_at = $3
         WHERE organization_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
         RETURNING email",
    )
    .bind(organization_id)
    .bind(id)
    .bind(now_ms())
    .fetch_optional(&mut **c)
    .await)?;
    if let Some(email) = &email {
        audit(
            tx,
            organization_id,
            Some(actor),
            "invitation_revoked",
            None,
            email,
        )
        .await?;
    }
    Ok(email.is_some())
}

/// Uses the invitation with this token for `user_id`: the user becomes a
/// member with the invitation's role (an existing membership keeps the
/// higher of the two roles). Returns the organization joined, or `None`
/// when the invitation is no longer usable.
pub async fn accept_invitation(
    tx: &mut Tx,
    token_hash: &str,
    user_id: i64,
) -> sqlx::Result<Option<i64>> {
    let now = now_ms();
    let accepted: Option<(i64, Role, String)> = on_tx!(tx, c => sqlx::query_as(
        "UPDATE invitations SET accepted_at = $2
         WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2
         RETURNING organization_id, role, email",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut **c)
    .await)?;
    let Some((organization_id, role, email)) = accepted else {
        return Ok(None);
    };
    // Any other pending invitation of this address here is done with.
    end_pending_invitations(tx, organization_id, &email, now).await?;
    let existing: Option<Role> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT role FROM memberships WHERE user_id = $1 AND organization_id = $2",
    )
    .bind(user_id)
    .bind(organization_id)
    .fetch_optional(&mut **c)
    .await)?;
    match existing {
        Some(current) if current >= role => {}
        Some(_) => set_role_unchecked(tx, organization_id, user_id, role).await?,
        None => {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO memberships (user_id, organization_id, role, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(user_id)
            .bind(organization_id)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|_| ()))?;
        }
    }
    audit(
        tx,
        organization_id,
        Some(user_id),
        "member_joined",
        Some(user_id),
        role.as_str(),
    )
    .await?;
    Ok(Some(organization_id))
}

async fn set_role_unchecked(
    tx: &mut Tx,
    organization_id: i64,
    user_id: i64,
    role: Role,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query("UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2")
        .bind(organization_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut **c)
        .await
        .map(|_| ()))
}

/// Changes a member's role (never to or from owner: that is a transfer).
pub async fn change_role(
    tx: &mut Tx,
    organization_id: i64,
    user_id: i64,
    role: Role,
    actor: i64,
) -> sqlx::Result<()> {
    set_role_unchecked(tx, organization_id, user_id, role).await?;
    audit(
        tx,
        organization_id,
        Some(actor),
        "role_changed",
        Some(user_id),
        role.as_str(),
    )
    .await
}

/// Removes a member from the organization (their sessions there end with it).
pub async fn remove_member(
    tx: &mut Tx,
    organization_id: i64,
    user_id: i64,
    actor: i64,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(organization_id)
        .bind(user_id)
        .execute(&mut **c)
        .await
        .map(|_| ()))?;
    audit(
        tx,
        organization_id,
        Some(actor),
        "member_removed",
        Some(user_id),
        "",
    )
    .await
}

/// Makes `to` the owner and the current owner an admin.
pub async fn transfer_ownership(
    tx: &mut Tx,
    organization_id: i64,
    from: i64,
    to: i64,
) -> sqlx::Result<()> {
    set_role_unchecked(tx, organization_id, to, Role::Owner).await?;
    set_role_unchecked(tx, organization_id, from, Role::Admin).await?;
    audit(
        tx,
        organization_id,
        Some(from),
        "ownership_transferred",
        Some(to),
        "",
    )
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub action: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub detail: String,
    pub created_at: i64,
}

pub async fn audit_log(
    pool: &Pool,
    organization_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT a.id, a.action, ua.name AS actor, us.name AS subject, a.detail, a.created_at
         FROM audit_log a
         LEFT JOIN users ua ON ua.id = a.actor_user_id
         LEFT JOIN users us ON us.id = a.subject_user_id
         WHERE a.organization_id = $1 ORDER BY a.id DESC LIMIT $2",
    )
    .bind(organization_id)
    .bind(limit)
    .fetch_all(p)
    .await)
}

pub async fn organization_name(pool: &Pool, organization_id: i64) -> sqlx::Result<Option<String>> {
    on_pool!(pool, p => sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
        .bind(organization_id)
        .fetch_optional(p)
        .await)
}

/// The currency the organization counts its money in (`USD` unless set).
pub async fn currency(pool: &Pool, organization_id: i64) -> sqlx::Result<Currency> {
    on_pool!(pool, p => sqlx::query_scalar("SELECT currency FROM organizations WHERE id = $1")
        .bind(organization_id)
        .fetch_one(p)
        .await)
}

/// Sets the organization's currency (the organization's settings).
pub async fn set_currency(
    pool: &Pool,
    organization_id: i64,
    currency: Currency,
) -> sqlx::Result<()> {
    on_pool!(pool, p => sqlx::query("UPDATE organizations SET currency = $2 WHERE id = $1")
        .bind(organization_id)
        .bind(currency)
        .execute(p)
        .await
        .map(|_| ()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Organization {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub kind: crate::organizations::kind::OrganizationKind,
    /// A franchise location's HQ.
    pub parent_id: Option<i64>,
}

/// The columns of [`Organization`].
const ORGANIZATION_COLUMNS: &str = "id, slug, name, kind, parent_id";

impl Organization {
    /// A franchise's head office: the organization that has locations.
    pub fn is_hq(&self) -> bool {
        self.kind == crate::organizations::kind::OrganizationKind::Franchise
            && self.parent_id.is_none()
    }
}

pub async fn organization_by_slug(pool: &Pool, slug: &str) -> sqlx::Result<Option<Organization>> {
    let sql = format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE slug = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(slug)
        .fetch_optional(p)
        .await)
}

pub async fn organization(pool: &Pool, id: i64) -> sqlx::Result<Option<Organization>> {
    let sql = format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1");
    on_pool!(pool, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// `"Lima & Co. Sales"` → `"lima-co-sales"`, `"Café Zürich"` →
/// `"cafe-zurich"`, `"東京"` → `"dong-jing"`: letters of any script
/// transliterated to ASCII (the `deunicode` tables), then ASCII letters and
/// digits kept, runs of anything else one `-`; at most 40 characters; never
/// empty.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    let ascii = deunicode::deunicode(name.trim());
    for c in ascii.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() { "org".into() } else { slug }
}

/// Records a change to an organization's people or roles.
pub async fn audit(
    tx: &mut Tx,
    organization_id: i64,
    actor: Option<i64>,
    action: &str,
    subject: Option<i64>,
    detail: &str,
) -> sqlx::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO audit_log (organization_id, actor_user_id, action, subject_user_id, detail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(organization_id)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(now_ms())
    .execute(&mut **c)
    .await
    .map(|_| ()))
}

/// One organization a person belongs to, as deleting their account sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Holding {
    pub organization_id: i64,
    pub name: String,
    pub role: Role,
    /// Members other than the person.
    pub others: i64,
    /// Franchise locations under it (an HQ's).
    pub locations: i64,
    /// Live prospects (the trash left out).
    pub prospects: i64,
    /// A franchise location (its HQ's to keep, whoever works there).
    pub is_location: bool,
}

/// Every organization `user_id` belongs to, oldest membership first.
pub async fn holdings(pool: &Pool, user_id: i64) -> sqlx::Result<Vec<Holding>> {
    on_pool!(pool, p => sqlx::query_as(
        "SELECT o.id AS organization_id, o.name, m.role,
                CAST((SELECT COUNT(*) FROM memberships x WHERE x.organization_id = o.id AND x.user_id <> $1) AS BIGINT) AS others,
                CAST((SELECT COUNT(*) FROM organizations l WHERE l.parent_id = o.id) AS BIGINT) AS locations,
                CAST((SELECT COUNT(*) FROM prospects q WHERE q.organization_id = o.id AND q.deleted_at IS NULL) AS BIGINT) AS prospects,
                o.parent_id IS NOT NULL AS is_location
         FROM memberships m JOIN organizations o ON o.id = m.organization_id
         WHERE m.user_id = $1 ORDER BY m.created_at",
    )
    .bind(user_id)
    .fetch_all(p)
    .await)
}

/// Deletes organization `id` and everything in it: prospects with their
/// timeline, tags, tasks and notifications; forms with their fields,
/// events, held and kept submissions and rejections; imports, saved
/// views, branding, invitations, memberships, the audit log and the
/// messages sent for it. The caller makes sure nobody else works there
/// and that it has no locations (a location's `parent_id` would refuse).
/// Every table that refers to `organizations` must be emptied here: the
/// test `settings::deleting_a_solo_account_leaves_no_row_of_its_organization`
/// reads the schema's foreign keys and fails for one left out.
pub async fn delete_organization(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    const PROSPECTS: &str = "(SELECT q.id FROM prospects q WHERE q.organization_id = $1)";
    const FORMS: &str = "(SELECT f.id FROM forms f WHERE f.organization_id = $1)";
    let statements = [
        "DELETE FROM notifications WHERE organization_id = $1".to_string(),
        "DELETE FROM tasks WHERE organization_id = $1".to_string(),
        format!("DELETE FROM timeline_entries WHERE prospect_id IN {PROSPECTS}"),
        format!("UPDATE timeline_entries SET form_id = NULL WHERE form_id IN {FORMS}"),
        format!("DELETE FROM prospect_tags WHERE prospect_id IN {PROSPECTS}"),
        "DELETE FROM held_submissions WHERE organization_id = $1".to_string(),
        "DELETE FROM kept_submissions WHERE organization_id = $1".to_string(),
        format!("DELETE FROM intake_rejections WHERE form_id IN {FORMS}"),
        "DELETE FROM events WHERE organization_id = $1".to_string(),
        "DELETE FROM saved_views WHERE organization_id = $1".to_string(),
        "DELETE FROM home_visits WHERE organization_id = $1".to_string(),
        "DELETE FROM home_checklist_dismissals WHERE organization_id = $1".to_string(),
        "DELETE FROM organization_branding WHERE organization_id = $1".to_string(),
        "DELETE FROM prospect_imports WHERE organization_id = $1".to_string(),
        "DELETE FROM invitations WHERE organization_id = $1".to_string(),
        "DELETE FROM audit_log WHERE organization_id = $1".to_string(),
        "DELETE FROM emails WHERE organization_id = $1".to_string(),
        "UPDATE sessions SET organization_id = NULL WHERE organization_id = $1".to_string(),
        "DELETE FROM memberships WHERE organization_id = $1".to_string(),
        "DELETE FROM prospects WHERE organization_id = $1".to_string(),
        format!("UPDATE forms SET template_id = NULL WHERE template_id IN {FORMS}"),
        "DELETE FROM form_fields WHERE organization_id = $1".to_string(),
        "DELETE FROM forms WHERE organization_id = $1".to_string(),
        "DELETE FROM organizations WHERE id = $1".to_string(),
    ];
    for sql in statements {
        on_tx!(tx, c => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .execute(&mut **c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// Members of `organization_id` other than `user_id`, read inside a write.
pub async fn other_members(tx: &mut Tx, organization_id: i64, user_id: i64) -> sqlx::Result<i64> {
    on_tx!(tx, c => sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM memberships WHERE organization_id = $1 AND user_id <> $2",
    )
    .bind(organization_id)
    .bind(user_id)
    .fetch_one(&mut **c)
    .await)
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_keep_every_script_readable() {
        assert_eq!(slugify("Lima & Co. Sales"), "lima-co-sales");
        assert_eq!(slugify("Café Zürich"), "cafe-zurich");
        assert_eq!(slugify("Łódź Północ"), "lodz-polnoc");
        assert_eq!(slugify("Москва"), "moskva");
        assert!(
            slugify("東京")
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
        );
        assert_eq!(slugify("!!!"), "org");
    }
}
