//! The storage contract suite: one integration test binary whose every test runs
//! against SQLite (a temporary file) and PostgreSQL (a fresh database per test on the
//! server named by `CLIENTS_TEST_POSTGRES_URL`).
//!
//! Each `contract!` test expands to a module with two tests, `sqlite` and `postgres`,
//! so `cargo test -p clients-persistence --test contract concurrency` runs the
//! concurrency tests on both backends. Under `CI=true` an unreachable PostgreSQL
//! fails the PostgreSQL tests; elsewhere they print a note and pass without running.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_debug_implementations)]

#[macro_use]
mod support;

mod accounts;
mod audit;
mod concurrency;
mod idempotency;
mod list_versions;
mod migrations;
mod outbox;
mod requests;
mod resources;
mod retries;
mod scopes;
mod statements;
mod websites;
