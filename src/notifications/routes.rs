//! `GET /notifications`, `POST /notifications/read`, and the account
//! page's `POST /account/preferences` (time zones and notification kinds).

use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Form},
};
use serde::Deserialize;

use super::{
    queries::{self, Preferences},
    views,
};
use crate::accounts::auth::CurrentUser;
use crate::app::AppState;
use crate::organizations::roles::Action;
use crate::platform::db;
use crate::platform::error::AppError;
use crate::platform::error::AppResult;
use crate::platform::money::Currency;
use crate::platform::web::form_again;
use crate::platform::web::html_response;
use crate::platform::web::see_other;

#[handler]
pub async fn index(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let list = queries::list(
        &state.db.read,
        user.user.user_id,
        user.user.organization_id,
        100,
    )
    .await?;
    Ok(html_response(
        StatusCode::OK,
        views::page(user.nav(), &list),
    ))
}

#[handler]
pub async fn read(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    queries::mark_all_read(
        &state.db.write,
        user.user.user_id,
        user.user.organization_id,
        db::now_ms(),
    )
    .await?;
    Ok(see_other("/notifications"))
}

/// What a person sent on the preferences form: the preferences, the zone
/// typed, and the organization's zone and currency as typed (admins only).
pub type Sent<'a> = (&'a Preferences, &'a str, (Option<&'a str>, Option<&'a str>));

/// The account page's preferences section, as stored or as sent back.
pub async fn section(
    state: &AppState,
    user: &CurrentUser,
    sent: Option<Sent<'_>>,
    problems: &[(&'static str, &'static str)],
) -> AppResult<maud::Markup> {
    let stored = queries::preferences(&state.db.read, user.user.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let organization = if user.user.may(Action::ManageOrganization) {
        let org = user.user.organization_id;
        Some((
            queries::organization_zone(&state.db.read, org).await?,
            crate::organizations::queries::currency(&state.db.read, org).await?,
        ))
    } else {
        None
    };
    let (typed_zone, typed_currency) = sent.map(|(_, _, org)| org).unwrap_or_default();
    let organization = organization
        .as_ref()
        .map(|(zone, currency)| views::OrganizationSettings {
            time_zone: typed_zone.unwrap_or(zone.as_str()),
            currency: typed_currency.unwrap_or(currency.as_str()),
        });
    Ok(match sent {
        Some((prefs, zone, _)) => {
            views::preferences(&user.csrf, prefs, zone, organization, problems)
        }
        None => views::preferences(
            &user.csrf,
            &stored,
            stored.time_zone.as_deref().unwrap_or(""),
            organization,
            problems,
        ),
    })
}

#[derive(Debug, Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    time_zone: String,
    organization_time_zone: Option<String>,
    /// The organization's currency (a code, `EUR`); absent: unchanged.
    organization_currency: Option<String>,
    notify_assigned: Option<String>,
    notify_new_lead: Option<String>,
    notify_summary: Option<String>,
}

#[handler]
pub async fn save(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<PreferencesForm>,
) -> AppResult<Response> {
    let mut problems = Vec::new();
    // Empty: the organization's zone.
    let zone = if form.time_zone.trim().is_empty() {
        None
    } else {
        match crate::platform::time_zones::parse(&form.time_zone) {
            Some(zone) => Some(zone.name().to_string()),
            None => {
                problems.push((
                    "time_zone",
                    "Choose a time zone from the list (for example Europe/Paris).",
                ));
                None
            }
        }
    };
    let organization_sent =
        form.organization_time_zone.is_some() || form.organization_currency.is_some();
    if organization_sent && !user.user.may(Action::ManageOrganization) {
        return Err(AppError::Forbidden(
            "Only admins and the owner can change the organization's settings.",
        ));
    }
    let organization_zone = match &form.organization_time_zone {
        Some(raw) => match crate::platform::time_zones::parse(raw) {
            Some(zone) => Some(zone.name().to_string()),
            None => {
                problems.push((
                    "organization_time_zone",
                    "Choose a time zone from the list (for example Europe/Paris).",
                ));
                None
            }
        },
        None => None,
    };
    let currency = match form
        .organization_currency
        .as_deref()
        .map(Currency::parse_input)
    {
        Some(Ok(currency)) => Some(currency),
        Some(Err(_)) => {
            problems.push((
                "organization_currency",
                "Enter a three-letter ISO 4217 currency code, like USD, EUR or JPY.",
            ));
            None
        }
        None => None,
    };
    let on = |v: &Option<String>| v.is_some();
    let prefs = Preferences {
        time_zone: zone,
        notify_assigned: on(&form.notify_assigned),
        notify_new_lead: on(&form.notify_new_lead),
        notify_summary: on(&form.notify_summary),
    };
    if !problems.is_empty() {
        let zone_typed: String = form.time_zone.chars().take(64).collect();
        let typed = |field: &Option<String>| -> Option<String> {
            field.as_ref().map(|v| v.chars().take(64).collect())
        };
        let org_typed = typed(&form.organization_time_zone);
        let currency_typed = typed(&form.organization_currency);
        let section = section(
            &state,
            &user,
            Some((
                &prefs,
                &zone_typed,
                (org_typed.as_deref(), currency_typed.as_deref()),
            )),
            &problems,
        )
        .await?;
        let page = crate::accounts::routes::page(&state, &user, None, section).await?;
        return Ok(form_again(page));
    }
    queries::save_preferences(&state.db.write, user.user.user_id, &prefs).await?;
    if let Some(zone) = organization_zone {
        queries::set_organization_zone(&state.db.write, user.user.organization_id, &zone).await?;
    }
    if let Some(currency) = currency {
        crate::organizations::queries::set_currency(
            &state.db.write,
            user.user.organization_id,
            currency,
        )
        .await?;
    }
    Ok(see_other("/account?saved=1#preferences"))
}
