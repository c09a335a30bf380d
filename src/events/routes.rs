//! Live events: start one, show it on the projector (QR code, live counter,
//! optional first names over server-sent events), end it, read its summary.

use std::time::Duration;

use futures::StreamExt;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{
        Data, Form, Path,
        sse::{Event as SseEvent, SSE},
    },
};
use serde::Deserialize;

use crate::{
    accounts::auth::CurrentUser,
    app::AppState,
    platform::web::{form_again, html_response, see_other},
};
use crate::{
    events::{views as pages, views::NewEvent},
    platform::{
        db::now_ms,
        error::{AppError, AppResult},
        text::text,
    },
};

/// Whether `user` may start and end events (their forms are shown only then).
fn may_run(user: &CurrentUser) -> bool {
    user.user
        .may(crate::organizations::roles::Action::RunEvents)
}

async fn load(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
) -> AppResult<crate::events::queries::Event> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    crate::events::queries::event(&state.db.read, user.user.organization_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

#[handler]
pub async fn index(user: CurrentUser, state: Data<&AppState>) -> AppResult<Response> {
    let org = user.user.organization_id;
    let events = crate::events::queries::events_of(&state.db.read, org).await?;
    let forms = crate::forms::queries::forms_of(&state.db.read, org).await?;
    let new = NewEvent {
        name: "",
        form_id: forms.first().map(|f| f.id),
        show_names: false,
        error: None,
    };
    Ok(html_response(
        StatusCode::OK,
        pages::index(user.nav(), &events, &forms, &new, may_run(&user)),
    ))
}

#[derive(Deserialize)]
pub struct NewEventForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    form_id: String,
    show_names: Option<String>,
}

#[handler]
pub async fn create(
    user: CurrentUser,
    state: Data<&AppState>,
    Form(form): Form<NewEventForm>,
) -> AppResult<Response> {
    let org = user.user.organization_id;
    let forms = crate::forms::queries::forms_of(&state.db.read, org).await?;
    let form_id = form
        .form_id
        .parse::<i64>()
        .ok()
        .filter(|id| forms.iter().any(|f| f.id == *id));
    let name = text(&form.name, 120);
    let error = match (&name, form_id) {
        (Ok(Some(_)), Some(_)) => None,
        (Err(msg), _) => Some(msg.clone()),
        (Ok(None), _) => Some("Please give the event a name.".to_string()),
        (_, None) => Some("Please choose one of your forms.".to_string()),
    };
    if let (Ok(Some(name)), Some(form_id), None) = (&name, form_id, &error) {
        let id = crate::events::queries::create_event(
            &state.db.write,
            org,
            form_id,
            name,
            now_ms(),
            form.show_names.is_some(),
        )
        .await?;
        return Ok(see_other(&format!("/events/{id}/live")));
    }
    let events = crate::events::queries::events_of(&state.db.read, org).await?;
    let new = NewEvent {
        name: &form.name,
        form_id,
        show_names: form.show_names.is_some(),
        error: error.as_deref(),
    };
    Ok(form_again(pages::index(
        user.nav(),
        &events,
        &forms,
        &new,
        may_run(&user),
    )))
}

/// The QR code as inline SVG (without the XML prolog a document would have).
fn qr_svg(url: &str) -> AppResult<String> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build();
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_string(),
        None => svg,
    })
}

const RECENT_NAMES: i64 = 12;

#[handler]
pub async fn live(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    projector(req, &user, &state, &id, false).await
}

/// `GET /events/{id}/present`: presenter mode, the projector filling the
/// screen: no app navigation, the organization's branding, a QR code most
/// of the screen high, the address in large type, and a warning when that
/// address would not reach the audience's phones.
#[handler]
pub async fn present(
    req: &Request,
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    projector(req, &user, &state, &id, true).await
}

/// Why phones in the room could not open `url`, if its host is this
/// machine (`localhost`, a loopback address), a private or link-local
/// address (RFC 1918, RFC 4193, RFC 3927/4291) or a `.local` name.
pub fn unreachable_from_phones(url: &str) -> Option<&'static str> {
    use std::net::IpAddr;
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let private = "This address is private to your network: phones on mobile data cannot open it. Set RALLY_PUBLIC_URL to the address the audience can reach.";
    let local = "This address points to this computer (localhost): phones in the room cannot open it. Set RALLY_PUBLIC_URL to the address the audience can reach.";
    let Ok(ip) = host.parse::<IpAddr>() else {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        return if name == "localhost" || name.ends_with(".localhost") {
            Some(local)
        } else if name.ends_with(".local") || name.ends_with(".internal") || !name.contains('.') {
            Some(private)
        } else {
            None
        };
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        ip if ip.is_loopback() || ip.is_unspecified() => Some(local),
        IpAddr::V4(v4)
            if v4.is_private()
                || v4.is_link_local()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]) =>
        {
            Some(private)
        }
        IpAddr::V6(v6)
            if (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80 =>
        {
            Some(private)
        }
        _ => None,
    }
}

async fn projector(
    req: &Request,
    user: &CurrentUser,
    state: &AppState,
    id: &str,
    presenter: bool,
) -> AppResult<Response> {
    let event = load(state, user, id).await?;
    // The form's public address as the audience should type or scan it.
    let url = format!(
        "{}/f/{}",
        crate::accounts::routes::public_base(req, state),
        event.form_slug
    );
    let count = crate::events::queries::event_count(&state.db.read, &event).await?;
    let recent = if event.show_names {
        crate::events::queries::event_names_after(&state.db.read, &event, 0, RECENT_NAMES).await?
    } else {
        Vec::new()
    };
    let branding =
        crate::forms::queries::branding_of(&state.db.read, user.user.organization_id).await?;
    let shown = pages::Projector {
        event: &event,
        form_url: &url,
        qr_svg: &qr_svg(&url)?,
        count,
        recent: &recent,
        branding: &branding,
        warning: unreachable_from_phones(&url),
    };
    let page = if presenter {
        pages::present(user.nav(), may_run(user), &shown)
    } else {
        pages::live(user.nav(), may_run(user), &shown)
    };
    Ok(html_response(StatusCode::OK, page))
}

/// Server-sent events for the projector: the count when it changes and,
/// if the organizer opted in, each new first name.
#[handler]
pub async fn stream(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<SSE> {
    let event = load(&state, &user, &id).await?;
    let pool = state.db.read.clone();
    let shutdown = state.shutdown.clone();
    let last_name = match crate::events::queries::event_names_after(&pool, &event, 0, 1)
        .await?
        .last()
    {
        Some((id, _)) => *id,
        None => 0,
    };
    let start = (event, pool, shutdown, -1i64, last_name);
    let updates =
        futures::stream::unfold(start, |(event, pool, shutdown, count, last)| async move {
            // After "ended": the stream is over (the page closes its end
            // on that event, `sse-close`).
            if count == i64::MIN {
                return None;
            }
            let mut out = Vec::new();
            let mut interval_first = count >= 0;
            let (mut count, mut last) = (count, last);
            while out.is_empty() {
                if interval_first {
                    tokio::select! {
                        () = shutdown.cancelled() => return None,
                        () = tokio::time::sleep(Duration::from_millis(750)) => {}
                    }
                }
                interval_first = true;
                // Ended meanwhile (from another screen): the projector says
                // so and stops showing the code.
                let current = crate::events::queries::event(&pool, event.organization_id, event.id)
                    .await
                    .ok()?;
                if current.is_none_or(|e| e.ends_at.is_some()) {
                    out.push(SseEvent::message(pages::ended().into_string()).event_type("ended"));
                    return Some((
                        futures::stream::iter(out),
                        (event, pool, shutdown, i64::MIN, last),
                    ));
                }
                let now = crate::events::queries::event_count(&pool, &event)
                    .await
                    .ok()?;
                if now != count {
                    count = now;
                    out.push(
                        SseEvent::message(pages::counter(now).into_string()).event_type("count"),
                    );
                }
                if event.show_names {
                    let names = crate::events::queries::event_names_after(&pool, &event, last, 50)
                        .await
                        .ok()?;
                    if let Some((id, _)) = names.last() {
                        last = *id;
                        out.push(
                            SseEvent::message(pages::names(&names).into_string())
                                .event_type("names"),
                        );
                    }
                }
            }
            Some((
                futures::stream::iter(out),
                (event, pool, shutdown, count, last),
            ))
        })
        .flatten();
    Ok(SSE::new(updates).keep_alive(Duration::from_secs(15)))
}

#[handler]
pub async fn end(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let event = load(&state, &user, &id).await?;
    crate::events::queries::end_event(
        &state.db.write,
        user.user.organization_id,
        event.id,
        now_ms(),
    )
    .await?;
    Ok(see_other(&format!("/events/{}", event.id)))
}

#[handler]
pub async fn summary(
    user: CurrentUser,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let event = load(&state, &user, &id).await?;
    let summary = crate::events::queries::event_summary(&state.db.read, &event).await?;
    let until = event.ends_at.unwrap_or_else(now_ms);
    Ok(html_response(
        StatusCode::OK,
        pages::summary(user.nav(), &event, &summary, until),
    ))
}

#[cfg(test)]
mod tests {
    use super::unreachable_from_phones as warn;

    #[test]
    fn addresses_phones_cannot_open_are_named() {
        for local in [
            "http://localhost:8080/f/x",
            "http://127.0.0.1/f/x",
            "http://[::1]/f/x",
            "http://app.localhost/f/x",
            "http://0.0.0.0:3000/f/x",
        ] {
            assert!(
                warn(local).is_some_and(|w| w.contains("localhost")),
                "{local}"
            );
        }
        for private in [
            "http://192.168.1.20/f/x",
            "http://10.0.0.5/f/x",
            "http://172.20.1.1/f/x",
            "http://[fd00::1]/f/x",
            "http://rally.local/f/x",
            "http://myhost/f/x",
            "http://100.64.0.1/f/x",
        ] {
            assert!(
                warn(private).is_some_and(|w| w.contains("private")),
                "{private}"
            );
        }
        for public in [
            "https://rally.example.com/f/x",
            "http://203.0.113.9/f/x",
            "https://172.32.0.1/f/x",
        ] {
            assert_eq!(warn(public), None, "{public}");
        }
    }
}
