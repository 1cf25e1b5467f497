//! The default mailer, writing `.eml` files, and the log mailer.

use std::path::PathBuf;

use async_trait::async_trait;
use clients_domain::{DeliveryError, Mailer, OutgoingEmail};

use crate::render::{MailContext, render, to_eml};

/// Writes one RFC 5322 `.eml` file per message into a folder (`CLIENTS_MAIL_DIR`),
/// named `<created-at>-<message id>.eml`. A retried message overwrites its own file,
/// so each message appears once.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    ctx: MailContext,
}

impl FileMailer {
    /// A mailer writing into `dir` (created if missing).
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn new(dir: impl Into<PathBuf>, ctx: MailContext) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, ctx })
    }

    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        let rendered = render(email, &self.ctx).map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        let bytes = to_eml(email, &rendered, &self.ctx);
        let name = format!("{}-{}.eml", email.created_at.format("%Y%m%dT%H%M%S%.3fZ"), email.id);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        // Write then rename, so a reader never sees half a message.
        tokio::fs::write(&tmp, &bytes).await.map_err(|e| DeliveryError::Transient(e.to_string()))?;
        tokio::fs::rename(&tmp, self.dir.join(&name)).await.map_err(|e| DeliveryError::Transient(e.to_string()))?;
        tracing::info!(to = %email.to, template = email.notification.template(), file = %name, "email written");
        Ok(())
    }
}

/// Logs that a message would be sent: recipient, template and subject, never the body
/// (it may hold a grant link).
#[derive(Debug, Clone)]
pub struct LogMailer {
    ctx: MailContext,
}

impl LogMailer {
    /// A log mailer.
    pub fn new(ctx: MailContext) -> Self {
        Self { ctx }
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        let rendered = render(email, &self.ctx).map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        tracing::info!(
            to = %email.to, template = email.notification.template(), subject = %rendered.subject,
            "email (log mailer; body withheld)"
        );
        Ok(())
    }
}
