//! `clients-mailer`: the mailer port's adapters and the email templates.
//!
//! [`render`] turns an [`OutgoingEmail`] into a subject, an HTML part (user text
//! escaped) and a text part; adapters send it: [`FileMailer`] writes one RFC 5322
//! `.eml` per message (the default), [`LogMailer`] logs that a message was sent (never
//! its body, which may hold a grant link), and the SES adapter sends through Amazon
//! SES v2.

mod file;
mod render;

pub use file::{FileMailer, LogMailer};
pub use render::{MailContext, RenderError, Rendered, render, to_eml};

use clients_domain::OutgoingEmail;
