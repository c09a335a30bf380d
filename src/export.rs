//! `rally export prospects`: an organization's prospects as CSV.

use std::io::Write;

use anyhow::Context;

use crate::{db, views::datetime};

pub async fn prospects(pool: &db::Pool, org_slug: &str, out: impl Write) -> anyhow::Result<usize> {
    let org = db::organization_by_slug(pool, org_slug)
        .await?
        .with_context(|| format!("no organization with slug {org_slug:?}"))?;
    let rows = db::all_prospects(pool, db::Scope::organization(org.id)).await?;
    write_csv(&rows, out)?;
    Ok(rows.len())
}

/// Prospects as CSV with a header row (the same columns everywhere).
pub fn write_csv(rows: &[db::Prospect], out: impl Write) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "id",
        "name",
        "email",
        "phone",
        "company",
        "source",
        "created_at",
        "submissions",
        "stage",
        "owner",
    ])?;
    for p in rows {
        writer.write_record([
            p.id.to_string(),
            p.name.clone(),
            p.email.clone(),
            p.phone.clone().unwrap_or_default(),
            p.company.clone().unwrap_or_default(),
            p.source.clone(),
            datetime(p.created_at),
            p.submissions.to_string(),
            p.stage.clone(),
            p.owner_name.clone().unwrap_or_default(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
