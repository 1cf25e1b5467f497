//! `app demo`: seeds a database with an agency, clients in every state and websites in
//! every status, through the same use cases the API runs, and prints tokens to try the
//! API with.

use std::fmt::Write as _;

use chrono::{TimeDelta, Utc};
use clients_domain::ports::{Outbox as _, StoreError};
use clients_domain::service::{SignUp, SignedIn};
use clients_domain::{
    DisplayName, DomainName, Email, GrantToken, Health, Notification, Password, Plan, Principal, Role,
};

use crate::Config;

const PASSWORD: &str = "demo-password-1";

fn principal(s: &SignedIn) -> Principal {
    Principal::Account { account: s.account.clone(), session: s.session.id }
}

fn email(s: &str) -> anyhow::Result<Email> {
    Email::parse(s).map_err(|e| anyhow::anyhow!("{s}: {e}"))
}

/// Seeds `config`'s database (which should be empty) and returns what to print.
///
/// # Errors
/// When the database cannot be set up or a step of the flow fails.
#[allow(clippy::too_many_lines)]
pub async fn seed(config: &Config) -> anyhow::Result<String> {
    let store = crate::connect(config).await?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = crate::http_state(config, &store)?;
    let svc = state.service();
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e: &dyn std::fmt::Debug| anyhow::anyhow!("demo step {what} failed: {e:?}")
    };
    let sign_up = |address: &'static str, name: Option<&'static str>, grant: Option<GrantToken>| async move {
        svc.sign_up(SignUp {
            email: email(address)?,
            password: Password::parse(PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?,
            name: name.map(DisplayName::parse).transpose().map_err(|e| anyhow::anyhow!("{e}"))?,
            grant_token: grant,
        })
        .await
        .map_err(|e| fail("sign-up")(&e))
    };

    let agency = sign_up("agency@demo.test", Some("Acme Agency"), None).await?;
    let other_agency = sign_up("other-agency@demo.test", Some("Other Agency"), None).await?;
    svc.change_plan(&principal(&agency), agency.account.id, Plan::Pro).await.map_err(|e| fail("plan")(&e))?;

    let scenarios: [(&str, Role); 8] = [
        ("all-good@demo.test", Role::Admin),
        ("major-issue@demo.test", Role::Developer),
        ("not-connected@demo.test", Role::Developer),
        ("no-websites@demo.test", Role::Biller),
        ("requested@demo.test", Role::Admin),
        ("declined@demo.test", Role::Developer),
        ("blocked-on-slots@demo.test", Role::Admin),
        ("bounced@demo.test", Role::Biller),
    ];
    // The blocked client's only slot goes to another agency first.
    svc.request_access(&principal(&other_agency), email("blocked-on-slots@demo.test")?, Role::Biller)
        .await
        .map_err(|e| fail("request")(&e))?;
    let mut rows = vec![];
    for (client, role) in scenarios {
        let row =
            svc.request_access(&principal(&agency), email(client)?, role).await.map_err(|e| fail("request")(&e))?;
        rows.push(row.request.id());
    }

    // Play the delivery worker: take the queued emails (and their links), mark them sent.
    let mut links: Vec<(String, GrantToken, String)> = vec![];
    loop {
        let claimed = store.claim_due(Utc::now(), 100, TimeDelta::seconds(60)).await.map_err(|e| fail("outbox")(&e))?;
        if claimed.is_empty() {
            break;
        }
        for c in claimed {
            if let Notification::AccessRequested { token, agency_name, .. } = &c.email.notification {
                links.push((c.email.to.to_string(), token.clone(), agency_name.clone()));
            }
            // One invitation bounces, so the list shows `delivery: failed` (Resend offered).
            if c.email.to.as_str() == "bounced@demo.test" {
                store.mark_failed(c.email.id, Utc::now(), "demo: mailbox does not exist").await
            } else {
                store.mark_sent(&[c.email.id], Utc::now()).await
            }
            .map_err(|e: StoreError| fail("outbox")(&e))?;
        }
    }
    let link = |to: &str, from: &str| {
        links
            .iter()
            .find(|(t, _, a)| t == to && a == from)
            .map(|(_, tok, _)| tok.clone())
            .ok_or_else(|| anyhow::anyhow!("no link to {to}"))
    };

    let mut clients = vec![];
    for (client, _) in scenarios.iter().filter(|(c, _)| !matches!(*c, "requested@demo.test" | "bounced@demo.test")) {
        let token = link(client, "Acme Agency")?;
        let signed = sign_up(client, None, Some(token.clone())).await?;
        let p = principal(&signed);
        match *client {
            "declined@demo.test" => svc.decline(&p, rows[5]).await.map_err(|e| fail("decline")(&e))?,
            "blocked-on-slots@demo.test" => {
                let first = link(client, "Other Agency")?;
                svc.approve_by_token(&p, &first).await.map_err(|e| fail("approve")(&e))?;
                // No free slot on the free plan: refused, and the agency's row says so.
                let _ = svc.approve_by_token(&p, &token).await;
            }
            _ => {
                svc.approve_by_token(&p, &token).await.map_err(|e| fail("approve")(&e))?;
            }
        }
        clients.push((*client, signed));
    }

    // Websites in every health.
    type Sites = &'static [(&'static str, bool, Health)];
    let sites: [(&str, Sites); 3] = [
        (
            "all-good@demo.test",
            &[("shop.all-good.test", true, Health::Ok), ("blog.all-good.test", true, Health::Warning)],
        ),
        (
            "major-issue@demo.test",
            &[("shop.major.test", true, Health::MajorIssue), ("www.major.test", true, Health::Ok)],
        ),
        ("not-connected@demo.test", &[("shop.offline.test", false, Health::Ok)]),
    ];
    for (client, list) in sites {
        let signed = &clients.iter().find(|(c, _)| *c == client).ok_or_else(|| anyhow::anyhow!("no {client}"))?.1;
        for (domain, connected, health) in list {
            let domain = DomainName::parse(domain).map_err(|e| anyhow::anyhow!("{e}"))?;
            let site = svc
                .add_website(&principal(signed), signed.account.id, domain)
                .await
                .map_err(|e| fail("website")(&e))?;
            svc.report_website_status(&Principal::Service, site.id, *connected, *health)
                .await
                .map_err(|e| fail("status")(&e))?;
        }
    }

    let base = config.public_url();
    let mut out = String::new();
    let _ = writeln!(out, "Demo data is ready. Serve it with the same database, e.g.:");
    let _ = writeln!(out, "  cargo run -p app -- --database-url {}\n", config.database_url);
    let _ = writeln!(out, "Every account's password is {PASSWORD:?}. Bearer tokens to try the API with:");
    let _ = writeln!(out, "  agency@demo.test (Acme Agency)  {}", agency.token.expose());
    for (client, signed) in &clients {
        let _ = writeln!(out, "  {client:<32} {}", signed.token.expose());
    }
    if let Ok(open) = link("requested@demo.test", "Acme Agency") {
        let _ = writeln!(out, "\nA live grant link (no account yet; sign up through it):");
        let _ = writeln!(out, "  {}", clients_mailer::grant_link(&base, open.expose()));
    }
    let _ =
        writeln!(out, "\nTry:  curl -s {base}/v1/shared-accounts -H 'authorization: Bearer {}'", agency.token.expose());
    Ok(out)
}
