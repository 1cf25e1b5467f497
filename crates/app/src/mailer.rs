//! The mail adapter chosen by configuration.

use async_trait::async_trait;
use clients_domain::{DeliveryError, Mailer, OutgoingEmail};
use clients_mailer::{FileMailer, LogMailer, MailContext, SesMailer};

use crate::config::{Config, MailerKind};

/// One of the mail adapters.
#[derive(Debug, Clone)]
pub enum AnyMailer {
    /// `.eml` files.
    File(FileMailer),
    /// Logs only.
    Log(LogMailer),
    /// Amazon SES v2.
    Ses(SesMailer),
}

impl AnyMailer {
    /// The adapter `config` asks for.
    ///
    /// # Errors
    /// When the mail folder cannot be created.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let ctx = MailContext {
            public_url: config.public_url(),
            from: config.mail_from.clone(),
            product: config.product_name.clone(),
        };
        Ok(match config.mailer {
            MailerKind::File => Self::File(
                FileMailer::new(&config.mail_dir, ctx)
                    .map_err(|e| anyhow::anyhow!("cannot create the mail folder {}: {e}", config.mail_dir.display()))?,
            ),
            MailerKind::Log => Self::Log(LogMailer::new(ctx)),
            MailerKind::Ses => {
                Self::Ses(SesMailer::new(ctx, config.ses_endpoint.clone(), config.ses_configuration_set.clone()).await)
            }
        })
    }
}

#[async_trait]
impl Mailer for AnyMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        match self {
            Self::File(m) => m.send(email).await,
            Self::Log(m) => m.send(email).await,
            Self::Ses(m) => m.send(email).await,
        }
    }
}
