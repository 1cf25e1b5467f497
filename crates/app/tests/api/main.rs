//! End-to-end API tests: the real binary's server on loopback, a fresh database and
//! mail folder per test, driven over HTTP like a client. One test per row of the HTTP
//! contract's happy path, and the error cases of each rule.
//!
//! Runs on SQLite by default and on PostgreSQL with `CLIENTS_TEST_API_BACKEND=postgres`
//! (`cargo xtask test` runs both).

// Test helpers panic on setup failures by design: a test that cannot start must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_requests;
mod accounts;
mod auth;
mod db;
mod helpers;
mod platform;
mod shared_accounts;
