//! `clients-mailer`: the mailer port's adapters and the email templates.
//!
//! [`render`] turns an [`OutgoingEmail`] into a subject, an HTML part (user text
//! escaped) and a text part; adapters send it: [`FileMailer`] writes one RFC 5322
//! `.eml` per message (the default), [`LogMailer`] logs that a message was sent (never
//! its body, which may hold a grant link), and the SES adapter sends through Amazon
//! SES v2.

mod file;
mod render;
pub mod ses;

pub use file::{FileMailer, LogMailer};
pub use render::{MailContext, RenderError, Rendered, grant_link, render, to_eml};
pub use ses::SesMailer;

use clients_domain::OutgoingEmail;
