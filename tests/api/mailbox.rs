//! The development mailbox shows a person the messages sent to their own
//! address, and nothing else: an admin cannot read the owner's password
//! reset link (and take the account over), nor anyone another person's
//! invitation or verification.

use crate::{
    helpers::{client, spawn_app},
    people::join,
};

#[tokio::test]
async fn authentication_mail_is_for_its_recipient_alone() {
    let app = spawn_app().await;
    app.sign_in().await;
    let (admin, _) = join(&app, "adm@example.com", "admin").await;
    // Anyone may ask for a reset of the owner's password.
    let res = app
        .post_as(
            &client(),
            "/password/forgot",
            &[("email", app.demo.email.as_str())],
        )
        .await;
    assert_eq!(res.status(), 200);
    let link = app.mail_link("Reset your Rally password").await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    // An invitation to someone else, not yet a user.
    let csrf = app.csrf_as(&app.client, "/people").await;
    let res = app
        .post_as(
            &app.client,
            "/people/invite",
            &[
                ("_csrf", csrf.as_str()),
                ("email", "newbie@example.com"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let invitation = app.mail_link("To newbie@example.com").await;
    let invitation_token = invitation.split("token=").nth(1).unwrap().to_string();

    // The admin sees their own invitation, and neither the owner's reset
    // nor the other invitation.
    let theirs = admin.get(app.url("/dev/mailbox")).send().await.unwrap();
    assert_eq!(theirs.status(), 200);
    let theirs = theirs.text().await.unwrap();
    assert!(
        theirs.contains("Demo Owner invited you to Demo Co on Rally"),
        "{theirs}"
    );
    for secret in [
        "Reset your Rally password",
        token.as_str(),
        "newbie@example.com",
        invitation_token.as_str(),
    ] {
        assert!(
            !theirs.contains(secret),
            "the admin reads {secret:?}: {theirs}"
        );
    }
    // The owner, the reset's recipient, reads it; not the invitation they
    // sent (it is the invitee's).
    let own = app.page("/dev/mailbox").await;
    assert!(own.contains("Reset your Rally password"), "{own}");
    assert!(own.contains(&token), "{own}");
    assert!(!own.contains(&invitation_token), "{own}");
    assert!(!own.contains("Demo Owner invited you"), "{own}");
    // Signed out: no mailbox at all.
    assert_eq!(
        client()
            .get(app.url("/dev/mailbox"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}

/// A person who forgot their password cannot sign in to read the
/// development mailbox: on a development instance the reset link goes to
/// the server log, and "Check your email" says so (for any address alike).
/// In production nothing is logged and nothing is said.
#[tokio::test]
async fn a_forgotten_password_on_a_development_instance_points_to_the_server_log() {
    let app = spawn_app().await;
    for address in [app.demo.email.as_str(), "nobody@example.com"] {
        let page = app
            .post_as(&client(), "/password/forgot", &[("email", address)])
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Check your email") && page.contains("read the link in the server log"),
            "{page}"
        );
        assert!(!page.contains("token="), "no link on the page: {page}");
    }

    let production = crate::helpers::spawn_app_with(|s| s.production = true).await;
    let page = production
        .post_as(
            &client(),
            "/password/forgot",
            &[("email", "nobody@example.com")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Check your email"), "{page}");
    assert!(!page.contains("server log"), "{page}");
}
