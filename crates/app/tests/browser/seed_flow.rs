//! The seed's walk through the screens, in the browser: the agency signs up and invites
//! a client; the client follows the email's "Grant access" link, signs up (prefilled),
//! approves in the pop-up, adds a website; the agency sees the row without the
//! "Requested" tag, views the websites, uses "Log in as", sees the banner and exits;
//! the client's access log shows the session.

use crate::browser::Browser;
use crate::server::{PASSWORD, spawn_with};

/// Markup in the agency's name must show as text everywhere (HTML escaping).
const AGENCY_NAME: &str = "Acme & <i>Sons</i>";

#[tokio::test(flavor = "multi_thread")]
async fn seed_flow_from_invite_to_log_in_as() {
    let Some(b) = Browser::start("seed_flow_from_invite_to_log_in_as").await else { return };
    let app = spawn_with(|_| {}).await;

    // The agency signs up and lands on its (empty) Clients page.
    b.goto(&app.url("/")).await;
    b.expect_path("/sign-in").await;
    b.screenshots("sign-in").await;
    b.goto(&app.url("/sign-up")).await;
    b.fill("#name", AGENCY_NAME).await;
    b.fill("#email", "agency@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.screenshot("sign-up").await;
    b.submit("button[type=submit].button-primary").await;
    b.expect_path("/clients").await;
    b.wait_for_text("No clients yet").await;
    b.screenshots("clients-empty").await;

    // "Invite client" opens the pop-up as a modal with focus on the email field.
    b.click("#invite-client").await;
    assert!(b.is_modal("#invite-dialog").await, "the invite pop-up is modal");
    assert_eq!(b.focused_id().await, "invite-email");
    let roles = b.text("#role-help").await;
    for role in ["Biller", "Developer", "Admin", "invoices", "full control"] {
        assert!(roles.contains(role), "the pop-up explains each role: {roles}");
    }
    // Esc closes it and focus returns to the button.
    b.press_escape().await;
    assert!(!b.visible("#invite-dialog").await, "Esc closes the pop-up");
    assert_eq!(b.focused_id().await, "invite-client");
    b.click("#invite-client").await;
    b.fill("#invite-email", "client@example.com").await;
    b.select("#invite-role", "developer").await;
    b.screenshots("invite-dialog").await;
    b.submit("#send-invitation").await;
    b.wait_for_text("Invitation sent to client@example.com").await;

    // The row: Requested tag, access level, inactive "View websites", No data,
    // Resend and Remove but no "Log in as".
    let row = "tr[data-email='client@example.com']";
    let text = b.text(row).await;
    for expected in ["client@example.com", "Requested", "Developer", "View websites", "No data", "Resend", "Remove"] {
        assert!(text.contains(expected), "row shows {expected}: {text}");
    }
    assert!(!text.contains("Log in as"), "no Log in as before approval: {text}");
    assert!(b.exists(&format!("{row} span.view-websites[aria-disabled=true]")).await, "View websites is inactive");
    b.screenshots("clients-requested").await;

    // The client opens the email's link: no account yet, so sign-up, prefilled.
    let link = app.grant_links("client@example.com", 1).await.pop().unwrap();
    b.sign_out_everyone().await;
    b.goto(&link).await;
    assert!(b.path().await.starts_with("/sign-up?grant="), "redirected to sign-up: {}", b.path().await);
    let email = b.find("#email").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(email, "client@example.com", "the email is prefilled from the link");
    b.wait_for_text(&format!("{AGENCY_NAME} (agency@example.com) asks for access to your account as Developer")).await;
    b.screenshots("sign-up-from-link").await;
    b.fill("#password", PASSWORD).await;
    b.submit("button[type=submit].button-primary").await;

    // The approval pop-up, with the slot it uses (free plan: 1 slot).
    assert!(b.path().await.starts_with("/grant-access?token="), "{}", b.path().await);
    assert!(b.is_modal("#grant-dialog").await, "the approval pop-up is modal");
    assert_eq!(b.focused_id().await, "approve", "focus starts on Approve");
    let dialog = b.text("#grant-dialog").await;
    assert!(dialog.contains(&format!("Approve access for {AGENCY_NAME}?")), "{dialog}");
    assert!(dialog.contains("Approving uses 1 of your 1 team slot (1 free)."), "{dialog}");
    assert!(dialog.contains("fine-tune settings"), "what a Developer can do: {dialog}");
    b.screenshots("approval-dialog").await;
    b.submit("#approve").await;
    b.expect_path("/team").await;
    b.wait_for_text(&format!("You approved {AGENCY_NAME} as Developer")).await;
    assert_eq!(b.text("#slot-usage").await, "1 of 1 team slot used");
    let member = b.text("tr[data-email='agency@example.com']").await;
    assert!(member.contains("agency@example.com"), "{member}");
    b.screenshots("team").await;

    // The client adds a website (it starts not connected).
    b.goto(&app.url("/websites")).await;
    b.fill("#domain", "shop.example.com").await;
    b.submit(".add-website button").await;
    b.wait_for_text("Added shop.example.com").await;
    b.fill("#domain", "blog.example.com").await;
    b.submit(".add-website button").await;
    b.wait_for_text("Added blog.example.com").await;
    b.screenshots("websites").await;

    // The agency signs in: the row lost its Requested tag and offers "Log in as".
    b.sign_out_everyone().await;
    b.goto(&app.url("/clients")).await;
    b.expect_path("/sign-in?next=%2Fclients").await;
    b.fill("#email", "agency@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.submit("button[type=submit].button-primary").await;
    b.expect_path("/clients").await;
    let text = b.text(row).await;
    assert!(!text.contains("Requested"), "approved rows lose the tag: {text}");
    assert!(text.contains("Not connected") && text.contains("Log in as"), "{text}");
    assert!(!text.contains("Resend") && !text.contains("Remove"), "no Resend/Remove after approval: {text}");
    b.screenshots("clients-approved").await;

    // "View websites" opens the pop-up; its search filters the list.
    b.submit(&format!("{row} button.view-websites")).await;
    assert!(b.is_modal("#websites-dialog").await);
    let list = b.text("#website-list").await;
    assert!(list.contains("shop.example.com") && list.contains("blog.example.com"), "{list}");
    b.fill("#website-search", "shop").await;
    assert!(b.visible("li[data-domain='shop.example.com']").await);
    assert!(!b.visible("li[data-domain='blog.example.com']").await, "search filters as one types");
    b.screenshots("view-websites").await;
    b.submit("#websites-dialog button[type=submit]").await;
    let list = b.text("#website-list").await;
    assert!(list.contains("shop.example.com") && !list.contains("blog.example.com"), "server-side search: {list}");
    b.click("#websites-dialog .close").await;
    assert!(!b.visible("#websites-dialog").await, "the close button closes the pop-up");
    assert_eq!(b.path().await, "/clients", "closing the pop-up cleans the address");

    // "Log in as": the banner names the client and the role; the agency sees the
    // client's websites; exit restores the agency's own session.
    b.submit(&format!("{row} button[data-action='log-in-as']")).await;
    b.expect_path("/websites").await;
    let banner = b.text(".acting").await;
    assert!(banner.contains("Acting as client@example.com as Developer"), "{banner}");
    let body = b.body().await;
    assert!(body.contains("Websites of client@example.com") && body.contains("shop.example.com"), "{body}");
    assert!(!b.exists("a[href='/clients']").await, "the agency's own pages are not offered while acting");
    b.screenshots("acting").await;
    b.goto(&app.url("/clients")).await;
    b.wait_for_text("Not available while acting as a client").await;
    b.submit("#exit-acting").await;
    b.expect_path("/clients").await;
    b.wait_for_text("You are back in your own account.").await;
    assert!(!b.exists(".acting").await, "the banner is gone");

    // The client's access log shows the request, the approval and the session.
    b.sign_out_everyone().await;
    b.goto(&app.url("/sign-in")).await;
    b.fill("#email", "client@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.submit("button[type=submit].button-primary").await;
    b.goto(&app.url("/access-log")).await;
    let log = b.text("table.log").await;
    for line in [
        "agency@example.com used \"Log in as\" as Developer",
        "Approved agency@example.com as Developer",
        "agency@example.com requested access as Developer",
    ] {
        assert!(log.contains(line), "access log shows {line:?}:\n{log}");
    }
    b.screenshots("access-log").await;

    drop(b);
    app.stop().await;
}
