//! The row actions Resend and Remove, search and pagination of the Shared accounts table.

use crate::browser::Browser;
use crate::server::{PASSWORD, spawn_with};

#[tokio::test(flavor = "multi_thread")]
async fn resend_and_remove_act_on_requested_rows_and_the_list_searches_and_pages() {
    let Some(b) = Browser::start("resend_and_remove_act_on_requested_rows_and_the_list_searches_and_pages").await
    else {
        return;
    };
    // One resend a day, no cooldown: the first resend works, the second is refused.
    let app = spawn_with(|c| {
        c.resend_cooldown_secs = 0;
        c.resend_daily_cap = 1;
    })
    .await;
    let agency = app.api_sign_up("agency@example.com", "Agency").await;
    app.api_request(&agency, "keep@client.test", "developer").await;
    app.api_request(&agency, "drop@client.test", "admin").await;
    let many: Vec<String> = (0..22).map(|i| format!("bulk{i:02}@client.test")).collect();
    app.api_request_bulk(&agency, &many, "biller").await;

    b.goto(&app.url("/sign-in")).await;
    b.fill("#email", "agency@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.submit("button[type=submit].button-primary").await;

    // Pages of 20, newest first: the two single requests are on the second page.
    assert_eq!(b.client.find_all(fantoccini::Locator::Css("table.shared tbody tr")).await.unwrap().len(), 20);
    b.submit("a[rel=next]").await;
    let page2 = b.text("table.shared").await;
    assert!(page2.contains("keep@client.test") && page2.contains("drop@client.test"), "{page2}");
    assert!(b.exists("nav.pager a[href='/clients']").await, "a way back to the first page");

    // Search by email.
    b.goto(&app.url("/clients")).await;
    b.fill("#q", "keep@").await;
    b.submit("form.filters button[type=submit]").await;
    let rows = b.client.find_all(fantoccini::Locator::Css("table.shared tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(b.text("table.shared").await.contains("keep@client.test"));
    b.screenshots("clients-search").await;

    // Resend sends a second email with a new link; a second resend hits the daily cap.
    let keep = "tr[data-email='keep@client.test']";
    app.grant_links("keep@client.test", 1).await;
    b.submit(&format!("{keep} button[data-action='resend']")).await;
    b.wait_for_text("Sent the request to keep@client.test again, with a new link.").await;
    assert_eq!(b.path().await, "/clients?q=keep%40&status=", "the action returns to the same list");
    let links = app.grant_links("keep@client.test", 2).await;
    assert_ne!(links[0], links[1], "a resend issues a new link");
    b.submit(&format!("{keep} button[data-action='resend']")).await;
    b.wait_for_text("The request was sent recently. You can resend it in").await;
    b.screenshot("clients-resend-limited").await;

    // Remove withdraws a request: the row leaves the list and its link stops working.
    b.goto(&app.url("/clients?q=drop")).await;
    let link = app.grant_links("drop@client.test", 1).await.remove(0);
    b.submit("tr[data-email='drop@client.test'] button[data-action='remove']").await;
    b.wait_for_text("Removed the request to drop@client.test.").await;
    b.wait_for_text("No clients match this search.").await;
    b.sign_out_everyone().await;
    b.goto(&link).await;
    b.wait_for_text("This link is no longer valid").await;
    b.screenshot("grant-link-invalid").await;

    drop(b);
    app.stop().await;
}
