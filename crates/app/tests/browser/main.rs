//! Browser tests of the web UI: the real service on loopback (fresh SQLite database and
//! mail folder per test) driven through Debian's `chromium` by `chromedriver`, with
//! fantoccini as the WebDriver client. Each test saves screenshots of the pages it
//! visits under `target/screenshots/` (and into `docs/screenshots/` with
//! `CLIENTS_UPDATE_SCREENSHOTS=1`).
//!
//! Under `CI=true` a missing `chromium` or `chromedriver` fails the tests; elsewhere the
//! browser tests print a note and pass without running. `.ci/run` installs both.

// Test helpers panic on setup failures by design: a test that cannot start must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod forms;
mod rows;
mod seed_flow;
mod server;
mod slots;
