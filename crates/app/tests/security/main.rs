//! Security and reliability suite: the attacks and faults of
//! `docs/security.md`, each a test named after its case, run against the real service
//! on loopback with a fresh database and mail folder per test.
//!
//! Runs on SQLite by default and on PostgreSQL with `CLIENTS_TEST_API_BACKEND=postgres`
//! (`cargo xtask test` runs both). The fault tests pick their backend themselves.

// Test helpers panic on setup failures by design: a test that cannot start must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/db.rs"]
mod db;

mod authz;
mod email_binding;
mod enumeration;
mod faults;
mod idempotency;
mod impersonation;
mod input;
mod races;
mod rate_limits;
mod support;
mod tokens;
