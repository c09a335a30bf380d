//! People: members, invitations, the audit log, accepting an invitation.

use maud::{Markup, html};

use crate::platform::ui::{Nav, datetime, layout};
use crate::{
    accounts::queries::SessionUser,
    organizations::{
        queries::{AuditEntry, Invitation, Member},
        roles::{Action, Role},
    },
};

/// The invite form's state when it comes back.
#[derive(Debug, Default)]
pub struct InviteForm {
    pub email: String,
    pub role: String,
    pub location: String,
    pub problem: Option<&'static str>,
}

/// A franchise location's people, on HQ's people page.
#[derive(Debug)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
}

/// Members with, for those `me` may manage, the role and remove forms;
/// `location`: the franchise location they belong to, sent with each form.
fn member_list(
    me: &SessionUser,
    members: &[Member],
    csrf: &str,
    zone: crate::platform::time_zones::Tz,
    location: Option<i64>,
    manage: bool,
) -> Markup {
    let roles = me.role.grantable();
    let prefix = location.map(|l| format!("l{l}-")).unwrap_or_default();
    html! {
        ul.people {
            @for m in members {
                li id={ (prefix) "member-" (m.user_id) } {
                    strong.name { (m.name) } " "
                    span.meta { (crate::platform::text::display_email(&m.email)) " · " (m.role) " · joined " (datetime(m.joined_at, zone)) }
                    @if manage && m.user_id != me.user_id && me.role.outranks(m.role) {
                        form.inline method="post" action={ "/people/" (m.user_id) "/role" } {
                            input type="hidden" name="_csrf" value=(csrf);
                            @if let Some(l) = location { input type="hidden" name="location" value=(l); }
                            label.visually-hidden for={ (prefix) "role-" (m.user_id) } { "Role of " (m.name) }
                            select id={ (prefix) "role-" (m.user_id) } name="role" {
                                @for r in &roles { option value=(r) selected[*r == m.role] { (r) } }
                            }
                            button type="submit" { "Change role" }
                        }
                        form.inline method="post" action={ "/people/" (m.user_id) "/remove" } {
                            input type="hidden" name="_csrf" value=(csrf);
                            @if let Some(l) = location { input type="hidden" name="location" value=(l); }
                            button.link type="submit" { "Remove" }
                        }
                    }
                }
            }
        }
    }
}

/// Pending invitations with, for those `me` outranks, a withdraw button.
fn invitation_list(
    me: &SessionUser,
    invitations: &[Invitation],
    csrf: &str,
    zone: crate::platform::time_zones::Tz,
    location: Option<i64>,
    manage: bool,
) -> Markup {
    html! {
        ul.people {
            @for i in invitations {
                li {
                    (crate::platform::text::display_email(&i.email)) " · " (i.role) " · until " (datetime(i.expires_at, zone))
                    @if manage && me.role.outranks(i.role) {
                        form.inline method="post" action={ "/people/invitations/" (i.id) "/revoke" } {
                            input type="hidden" name="_csrf" value=(csrf);
                            @if let Some(l) = location { input type="hidden" name="location" value=(l); }
                            button.link type="submit" { "Withdraw" }
                        }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn index(
    nav: Nav<'_>,
    me: &SessionUser,
    members: &[Member],
    invitations: &[Invitation],
    locations: &[(i64, String)],
    teams: &[Team],
    invite: &InviteForm,
    notice: Option<&str>,
) -> Markup {
    let zone = nav.zone;
    let csrf = nav.csrf.to_string();
    let roles = me.role.grantable();
    // HQ's owner and admins manage the locations' people.
    let manage_locations = me.may(Action::AddLocation);
    layout(
        "People",
        Some(nav),
        html! {
            h1 { "People" }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            section.card {
                h2 { (me.organization_name) }
                (member_list(me, members, &csrf, zone, None, me.may(Action::ManagePeople)))
            }
            @if !roles.is_empty() {
                section.card {
                    h2 { "Invite someone" }
                    @if let Some(problem) = invite.problem { p.alert role="alert" { (problem) } }
                    form method="post" action="/people/invite" {
                        input type="hidden" name="_csrf" value=(csrf);
                        div.field {
                            label for="invite-email" { "Email" }
                            input #invite-email type="text" inputmode="email" autocapitalize="none" spellcheck="false" name="email" value=(invite.email) required;
                        }
                        @if !locations.is_empty() {
                            div.field {
                                label for="invite-location" { "Where" }
                                select #invite-location name="location" {
                                    option value="" selected[invite.location.is_empty()] { "HQ (" (me.organization_name) ")" }
                                    @for (id, name) in locations {
                                        option value=(id) selected[invite.location == id.to_string()] { (name) }
                                    }
                                }
                            }
                        }
                        div.field {
                            label for="invite-role" { "Role" }
                            select #invite-role name="role" {
                                @for r in &roles { option value=(r) selected[r.as_str() == invite.role || (invite.role.is_empty() && *r == Role::Member)] { (r) } }
                            }
                        }
                        button.primary type="submit" { "Send invitation" }
                    }
                    @if !invitations.is_empty() {
                        h3 { "Waiting for an answer" }
                        (invitation_list(me, invitations, &csrf, zone, None, true))
                    }
                }
            }
            @for team in teams {
                section.card.location id={ "location-" (team.id) } {
                    h2 { a href={ "/locations/" (team.id) } { (team.name) } }
                    @if team.members.is_empty() { p.empty { "Nobody works here yet." } }
                    (member_list(me, &team.members, &csrf, zone, Some(team.id), manage_locations))
                    @if !team.invitations.is_empty() {
                        h3 { "Waiting for an answer" }
                        (invitation_list(me, &team.invitations, &csrf, zone, Some(team.id), manage_locations))
                    }
                }
            }
            @if me.may(Action::TransferOwnership) {
                section.card {
                    h2 { "Ownership" }
                    @let others: Vec<&Member> = members.iter().filter(|m| m.user_id != me.user_id).collect();
                    @if others.is_empty() {
                        p { "Invite someone first: ownership goes to another member." }
                    } @else {
                        form method="post" action="/people/transfer" {
                            input type="hidden" name="_csrf" value=(csrf);
                            div.field {
                                label for="transfer-to" { "Make this member the owner (you become an admin)" }
                                select #transfer-to name="user_id" {
                                    @for m in others { option value=(m.user_id) { (m.name) " (" (crate::platform::text::display_email(&m.email)) ")" } }
                                }
                            }
                            label.choice {
                                input type="checkbox" name="confirm" value="yes" required;
                                " I understand: I become an admin, and only the new owner can give ownership back."
                            }
                            button.danger type="submit" { "Transfer ownership" }
                        }
                    }
                    p { a href="/people/audit" { "Audit log" } }
                }
            }
        },
    )
}

pub fn audit(nav: Nav<'_>, entries: &[AuditEntry]) -> Markup {
    let zone = nav.zone;
    layout(
        "Audit log",
        Some(nav),
        html! {
            h1 { "Audit log" }
            p.meta { "Changes to your organization's people and roles, newest first." }
            @if entries.is_empty() { p.empty { "Nothing yet." } }
            ul.failures {
                @for e in entries {
                    li {
                        span.meta { (datetime(e.created_at, zone)) } " · "
                        strong { (e.action.replace('_', " ")) }
                        @if let Some(actor) = &e.actor { " by " (actor) }
                        @if let Some(subject) = &e.subject { " · " (subject) }
                        @if !e.detail.is_empty() { " · " (e.detail) }
                    }
                }
            }
        },
    )
}

/// What the invitation page offers, given who opens it.
pub enum AcceptView {
    /// Signed in as the invited address.
    Join,
    /// Signed in as someone else.
    WrongAccount,
    /// The address has an account: sign in, then come back.
    SignInFirst,
    /// No account yet: name and password (`name` as typed, kept when the
    /// form comes back with a problem).
    CreateAccount {
        problem: Option<&'static str>,
        name: String,
    },
}

pub fn accept(
    invitation: &Invitation,
    token: &str,
    csrf: Option<&str>,
    view: &AcceptView,
) -> Markup {
    layout(
        "Join on Rally",
        None,
        html! {
            section.card.narrow {
                h1 { "Join " (invitation.organization_name) }
                p { "You are invited as " strong { (invitation.role) } " with " strong { (crate::platform::text::display_email(&invitation.email)) } "." }
                @match view {
                    AcceptView::Join => {
                        form method="post" action="/invitations/accept" {
                            input type="hidden" name="token" value=(token);
                            @if let Some(csrf) = csrf { input type="hidden" name="_csrf" value=(csrf); }
                            button.primary type="submit" { "Join" }
                        }
                    }
                    AcceptView::WrongAccount => {
                        p.alert role="alert" { "You are signed in with another address. Sign out, then open the invitation link again." }
                    }
                    AcceptView::SignInFirst => {
                        p { "You already have a Rally account. " a href="/signin" { "Sign in" } ", then open the invitation link again." }
                    }
                    AcceptView::CreateAccount { problem, name } => {
                        @if let Some(problem) = problem { p.alert role="alert" { (problem) } }
                        form method="post" action="/invitations/accept" {
                            input type="hidden" name="token" value=(token);
                            div.field {
                                label for="name" { "Your name" }
                                input #name type="text" name="name" value=(name) required autocomplete="name";
                            }
                            div.field {
                                label for="password" { "Choose a password (at least 10 characters)" }
                                input #password type="password" name="password" required autocomplete="new-password";
                            }
                            button.primary type="submit" { "Create my account and join" }
                        }
                    }
                }
            }
        },
    )
}
