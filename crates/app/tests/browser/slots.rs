//! The approval pop-up when no team slot is free (the free plan has one): it says so
//! and what to do; approving anyway is refused and the agency's row says the client is
//! blocked; upgrading from the pop-up frees a slot and the approval then goes through.

use crate::browser::Browser;
use crate::server::{PASSWORD, spawn_with};

async fn sign_in(b: &Browser, app: &crate::server::TestApp, email: &str) {
    b.sign_out_everyone().await;
    b.goto(&app.url("/sign-in")).await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.submit("button[type=submit].button-primary").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_approval_pop_up_shows_the_slot_limit_and_upgrading_frees_a_slot() {
    let Some(b) = Browser::start("the_approval_pop_up_shows_the_slot_limit_and_upgrading_frees_a_slot").await else {
        return;
    };
    let app = spawn_with(|_| {}).await;
    let first = app.api_sign_up("first@agency.test", "First Agency").await;
    let second = app.api_sign_up("second@agency.test", "Second Agency").await;
    app.api_request(&first, "owner@client.test", "admin").await;
    app.api_request(&second, "owner@client.test", "biller").await;

    // The client signs up through the first link and approves: its one slot is used.
    let link = app.grant_links("owner@client.test", 1).await.remove(0);
    b.goto(&link).await;
    b.fill("#password", PASSWORD).await;
    b.submit("button[type=submit].button-primary").await;
    b.submit("#approve").await;
    assert_eq!(b.text("#slot-usage").await, "1 of 1 team slot used");

    // The second request waits in the pop-up, which opens by itself on the client's pages.
    b.goto(&app.url("/clients")).await;
    assert!(b.is_modal("#approval-dialog").await, "the pop-up opens by itself");
    let dialog = b.text("#approval-dialog").await;
    assert!(
        dialog.contains("Second Agency (second@agency.test) asks for access to your account as Biller"),
        "{dialog}"
    );
    assert!(dialog.contains("No free team slot. All 1 of your team slots are in use."), "{dialog}");
    assert!(dialog.contains("upgrade your plan or remove a member in Team Management"), "{dialog}");
    let plans = b.text("#approval-plan").await;
    assert!(plans.contains("Plus (3 team slots)") && !plans.contains("Free"), "only upgrades are offered: {plans}");
    b.screenshots("approval-no-free-slot").await;

    // Approving anyway is refused with what to do; the request stays pending.
    b.submit("#approval-dialog li[data-agency='second@agency.test'] form[action='/requests/approve'] button").await;
    b.wait_for_text("All 1 of your team slots are in use (1 members).").await;
    assert!(b.is_modal("#approval-dialog").await, "the request is still waiting");

    // The second agency's row says the client is blocked on slots.
    sign_in(&b, &app, "second@agency.test").await;
    let row = b.text("tr[data-email='owner@client.test']").await;
    assert!(row.contains("Requested") && row.contains("no free team slot"), "{row}");
    b.screenshot("clients-blocked-on-slots").await;

    // The client upgrades from the pop-up and approves.
    sign_in(&b, &app, "owner@client.test").await;
    assert!(b.is_modal("#approval-dialog").await);
    b.select("#approval-plan", "plus").await;
    b.submit("#approval-dialog form[action='/team/plan'] button").await;
    b.wait_for_text("Your plan is now Plus: 1 of 3 team slots used.").await;
    let dialog = b.text("#approval-dialog").await;
    assert!(dialog.contains("Approving uses 1 of your 3 team slots (2 free)."), "{dialog}");
    b.submit("#approval-dialog li[data-agency='second@agency.test'] form[action='/requests/approve'] button").await;
    b.expect_path("/team").await;
    b.wait_for_text("You approved second@agency.test as Biller").await;
    assert_eq!(b.text("#slot-usage").await, "2 of 3 team slots used");
    assert!(!b.exists("#approval-dialog").await, "nothing is waiting any more");

    // Team Management: change a role, remove a member (its slot is freed).
    let biller = "tr[data-email='second@agency.test']";
    let select = format!("{biller} select[name=role]");
    b.select(&select, "developer").await;
    b.submit(&format!("{biller} form[action='/team/role'] button")).await;
    b.wait_for_text("second@agency.test is now Developer in this account.").await;
    b.screenshots("team-two-members").await;
    b.submit(&format!("{biller} form[action='/team/remove'] button")).await;
    b.wait_for_text("Removed second@agency.test from the team").await;
    assert_eq!(b.text("#slot-usage").await, "1 of 3 team slots used");

    drop(b);
    app.stop().await;
}
