//! Account pages: sign-up, the account page, password reset, notices and
//! the development mailbox.

use maud::{Markup, html};

use crate::platform::ui::{Nav, datetime, labelled_input, layout, problem};
use crate::{
    accounts::{queries::Account, routes::SignUpForm, settings::SettingsForms},
    organizations::queries::Holding,
    platform::mail::MailboxEntry,
};

pub fn sign_up(form: &SignUpForm, problems: &[(&'static str, &'static str)]) -> Markup {
    layout(
        "Create your account",
        None,
        html! {
            section.card.narrow {
                h1 { "Start with Rally" }
                p { "Create your account and your organization. You will be its owner." }
                form method="post" action="/signup" novalidate {
                    input type="hidden" name="time_zone" value=(form.time_zone) data-browser-zone;
                    (labelled_input("name", "name", "Your name", "text", &form.name, (true, "name"), problem(problems, "name")))
                    (labelled_input("email", "email", "Work email", "email", &form.email, (true, "email"), problem(problems, "email")))
                    (labelled_input("password", "password", "Password (at least 10 characters)", "password", "", (true, "new-password"), problem(problems, "password")))
                    (labelled_input("organization", "organization", "Company or team name", "text", &form.organization, (true, "organization"), problem(problems, "organization")))
                    fieldset.field {
                        legend { "What kind of organization?" }
                        @for kind in crate::organizations::kind::OrganizationKind::AT_SIGN_UP {
                            label.choice {
                                input type="radio" name="kind" value=(kind.as_str()) checked[form.kind == kind.as_str()];
                                " " (kind.label())
                            }
                        }
                        @if let Some(msg) = problem(problems, "kind") { p.error { (msg) } }
                    }
                    button.primary type="submit" { "Create account" }
                }
                p { "Already have an account? " a href="/signin" { "Sign in" } }
            }
        },
    )
}

/// A short page with a title and one message.
pub fn notice(title: &str, message: &str) -> Markup {
    layout(
        title,
        None,
        html! {
            section.card.narrow {
                h1 { (title) }
                p { (message) }
                p { a href="/signin" { "Sign in" } " · " a href="/prospects" { "Go to Rally" } }
            }
        },
    )
}

/// "Check your email" after a password reset request, the same whether or
/// not an account uses the address. `development_log`: the development
/// mailbox is in use, and the link was written to the server log (the
/// mailbox shows mail only to its signed-in recipient).
pub fn reset_requested(development_log: bool) -> Markup {
    layout(
        "Check your email",
        None,
        html! {
            section.card.narrow {
                h1 { "Check your email" }
                p { "If an account uses that address, we sent it a link to choose a new password. The link works for one hour." }
                @if development_log {
                    p.notice #development-mail {
                        "This is a development instance: no email leaves it. The development mailbox "
                        "shows each person their own mail once signed in, so to reset a forgotten "
                        "password, read the link in the server log."
                    }
                }
                p { a href="/signin" { "Sign in" } " · " a href="/prospects" { "Go to Rally" } }
            }
        },
    )
}

/// The settings part of the account page: the forms as sent, and the
/// person's organizations (what deleting the account would do to each).
pub struct Settings<'a> {
    pub forms: &'a SettingsForms,
    pub holdings: &'a [Holding],
}

#[allow(clippy::too_many_arguments)]
pub fn account(
    nav: Nav<'_>,
    account: &Account,
    role: crate::organizations::roles::Role,
    memberships: &[(i64, String, crate::organizations::roles::Role)],
    current: i64,
    notice: Option<&str>,
    preferences: Markup,
    settings: &Settings<'_>,
) -> Markup {
    let csrf = nav.csrf.to_string();
    let mailbox = nav.can_see_jobs;
    layout(
        "Your account",
        Some(nav),
        html! {
            h1 { "Your account" }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            section.card {
                dl {
                    dt { "Name" } dd { (account.name) }
                    dt { "Email" } dd {
                        (crate::platform::text::display_email(&account.email)) " "
                        @if account.email_verified_at.is_some() { span.badge { "confirmed" } }
                        @else { span.badge.warn { "not confirmed yet" } }
                    }
                    dt { "Role" } dd { (role) }
                }
                @if account.email_verified_at.is_none() {
                    form method="post" action="/account/verify" {
                        input type="hidden" name="_csrf" value=(csrf);
                        button type="submit" { "Send the confirmation email again" }
                    }
                }
            }
            @if memberships.len() > 1 {
                section.card {
                    h2 { "Your organizations" }
                    ul.people {
                        @for (id, name, role) in memberships {
                            li {
                                strong { (name) } " " span.meta { (role) }
                                @if *id == current { " " span.badge { "working here" } }
                                @else {
                                    form.inline method="post" action="/account/organization" {
                                        input type="hidden" name="_csrf" value=(csrf);
                                        input type="hidden" name="organization_id" value=(id);
                                        button type="submit" { "Work in " (name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (preferences)
            (password_section(&csrf, settings.forms))
            (email_section(&csrf, settings.forms))
            section.card {
                h2 { "Sessions" }
                p { "Signed in on a device you no longer use? End every session, this one included." }
                form method="post" action="/signout/everywhere" {
                    input type="hidden" name="_csrf" value=(csrf);
                    button type="submit" { "Sign out everywhere" }
                }
            }
            (delete_section(&csrf, settings, current))
            @if mailbox {
                p { a href="/dev/mailbox" { "Development mailbox" } " (messages Rally would have emailed)" }
            }
        },
    )
}

fn password_section(csrf: &str, forms: &SettingsForms) -> Markup {
    let problems = &forms.problems;
    html! {
        section.card #password {
            h2 { "Password" }
            form method="post" action="/account/password" novalidate {
                input type="hidden" name="_csrf" value=(csrf);
                (labelled_input("current-password", "current_password", "Current password", "password", "", (true, "current-password"), problem(problems, "current_password")))
                (labelled_input("new-password", "new_password", "New password (at least 10 characters)", "password", "", (true, "new-password"), problem(problems, "new_password")))
                (labelled_input("confirm-password", "confirm_password", "The new password again", "password", "", (true, "new-password"), problem(problems, "confirm_password")))
                p.meta { "Every other device signed in to your account is signed out." }
                button type="submit" { "Change password" }
            }
        }
    }
}

fn email_section(csrf: &str, forms: &SettingsForms) -> Markup {
    let problems = &forms.problems;
    html! {
        section.card #email {
            h2 { "Email address" }
            p { "We send a link to the new address; your address changes when you open it." }
            form method="post" action="/account/email" novalidate {
                input type="hidden" name="_csrf" value=(csrf);
                (labelled_input("new-email", "new_email", "New email address", "email", &forms.new_email, (true, "email"), problem(problems, "new_email")))
                (labelled_input("email-password", "password", "Your current password", "password", "", (true, "current-password"), problem(problems, "email_password")))
                button type="submit" { "Send the link" }
            }
        }
    }
}

fn delete_section(csrf: &str, settings: &Settings<'_>, current: i64) -> Markup {
    use crate::accounts::settings::{Outcome, outcome};
    let problems = &settings.forms.problems;
    let blocked = settings.holdings.iter().any(|h| outcome(h).blocks());
    html! {
        section.card.danger #delete {
            h2 { "Delete your account" }
            @if let Some(msg) = problem(problems, "delete") { p.alert role="alert" { (msg) } }
            p { "Your name, email address, password and preferences are erased, and you are signed out everywhere. This cannot be undone." }
            @if !settings.holdings.is_empty() {
                ul.outcomes {
                    @for h in settings.holdings {
                        li {
                            strong { (h.name) } ": "
                            @match outcome(h) {
                                Outcome::Leave => {
                                    "you leave it; its people keep their work, and the prospects you own become unassigned."
                                }
                                Outcome::DeleteWith { prospects } => {
                                    "you are its only member, so it is deleted with your account: its "
                                    (crate::platform::ui::plural(prospects, "prospect", "prospects"))
                                    ", forms, events and history."
                                }
                                Outcome::HandOver => {
                                    "you own it and others work there. Hand it to one of them first on "
                                    a href="/people" { "People" } " (Ownership)"
                                    @if h.organization_id != current { ", after choosing to work in it above" }
                                    "."
                                }
                                Outcome::HqWithLocations => {
                                    "it is a franchise HQ with locations. Invite someone to HQ and hand it over on "
                                    a href="/people" { "People" } " first"
                                    @if h.organization_id != current { ", after choosing to work in it above" }
                                    "."
                                }
                            }
                        }
                    }
                }
            }
            @if !blocked {
                form method="post" action="/account/delete" novalidate {
                    input type="hidden" name="_csrf" value=(csrf);
                    (labelled_input("delete-password", "password", "Type your password to confirm", "password", "", (true, "current-password"), problem(problems, "delete_password")))
                    button.danger type="submit" { "Delete my account" }
                }
            }
        }
    }
}

/// The page an email-change link opens: the change and a button that
/// makes it (`problem`: why it cannot be made, without the button).
pub fn confirm_email_change(
    token: &str,
    old_email: &str,
    new_email: &str,
    problem: Option<&str>,
) -> Markup {
    layout(
        "Confirm your new address",
        None,
        html! {
            section.card.narrow {
                h1 { "Confirm your new address" }
                p {
                    "Your Rally account will use " strong { (crate::platform::text::display_email(new_email)) }
                    " instead of " (crate::platform::text::display_email(old_email)) "."
                }
                @if let Some(msg) = problem {
                    p.alert role="alert" { (msg) }
                    p { a href="/account" { "Your account" } }
                } @else {
                    form method="post" action="/account/email/confirm" {
                        input type="hidden" name="token" value=(token);
                        button.primary type="submit" { "Use the new address" }
                    }
                }
            }
        },
    )
}

pub fn forgot(email: &str, problem: Option<&str>) -> Markup {
    layout(
        "Forgot your password",
        None,
        html! {
            section.card.narrow {
                h1 { "Forgot your password?" }
                p { "Enter your account's email address and we will send you a link to choose a new password." }
                form method="post" action="/password/forgot" novalidate {
                    div.field {
                        label for="email" { "Email" }
                        input #email type="text" inputmode="email" autocapitalize="none" spellcheck="false" name="email" value=(email) required autocomplete="username";
                        @if let Some(msg) = problem { p.error { (msg) } }
                    }
                    button.primary type="submit" { "Send the link" }
                }
            }
        },
    )
}

pub fn reset(token: &str, problem: Option<&str>) -> Markup {
    layout(
        "Choose a new password",
        None,
        html! {
            section.card.narrow {
                h1 { "Choose a new password" }
                @if let Some(msg) = problem { p.alert role="alert" { (msg) } }
                form method="post" action="/password/reset" {
                    input type="hidden" name="token" value=(token);
                    div.field {
                        label for="password" { "New password (at least 10 characters)" }
                        input #password type="password" name="password" required autocomplete="new-password";
                    }
                    div.field {
                        label for="confirm" { "The same again" }
                        input #confirm type="password" name="confirm" required autocomplete="new-password";
                    }
                    button.primary type="submit" { "Save and sign in" }
                }
            }
        },
    )
}

/// Renders a message's text part, making its web addresses links.
fn linked_text(text: &str) -> Markup {
    html! {
        pre.mail {
            @for line in text.lines() {
                @if line.starts_with("https://") || line.starts_with("http://") {
                    a href=(line) { (line) } "\n"
                } @else {
                    (line) "\n"
                }
            }
        }
    }
}

pub fn mailbox(nav: Nav<'_>, messages: &[MailboxEntry]) -> Markup {
    let zone = nav.zone;
    layout(
        "Mailbox",
        Some(nav),
        html! {
            h1 { "Development mailbox" }
            p.meta { "No email provider is configured, so Rally keeps its messages here instead of sending them. The messages to your address, newest first." }
            @if messages.is_empty() {
                p.empty { "No message yet." }
            }
            @for m in messages {
                article.card.mail id={ "mail-" (m.id) } {
                    h2 { (m.subject) }
                    p.meta { "To " (crate::platform::text::display_email(&m.to_addr)) " · " (datetime(m.created_at, zone)) @if m.sent_at.is_none() { " · waiting to be delivered" } }
                    (linked_text(&m.text))
                }
            }
        },
    )
}

pub fn sign_in(email: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.card.narrow {
                h1 { "Sign in to Rally" }
                @if let Some(msg) = error { p.alert role="alert" { (msg) } }
                form method="post" action="/signin" {
                    div.field {
                        label for="email" { "Email" }
                        input #email type="text" inputmode="email" autocapitalize="none" spellcheck="false" name="email" value=(email) required autocomplete="username";
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" required autocomplete="current-password";
                    }
                    button.primary type="submit" { "Sign in" }
                }
                p { a href="/password/forgot" { "Forgot your password?" } }
                p { "New to Rally? " a href="/signup" { "Create an account" } }
            }
        },
    )
}
