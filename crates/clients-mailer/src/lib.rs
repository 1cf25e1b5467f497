//! `clients-mailer`: placeholder adapter crate. It compiles so the workspace has its final shape;
//! the real adapter arrives with its own issue (see README.md, "Status").
