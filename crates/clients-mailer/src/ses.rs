//! Amazon SES v2 (`SendEmail`, simple content with HTML and text parts).

use async_trait::async_trait;
use aws_sdk_sesv2::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use clients_domain::{DeliveryError, Mailer, OutgoingEmail};

use crate::render::{MailContext, render};

/// Sends through SES v2. Region and credentials come from the standard AWS chain
/// (environment, profile, instance role); `endpoint` overrides the service URL (tests
/// and local fakes).
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    ctx: MailContext,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// Builds the client from the AWS environment.
    pub async fn new(ctx: MailContext, endpoint: Option<String>, configuration_set: Option<String>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        Self::from_sdk_config(&loader.load().await, ctx, configuration_set)
    }

    /// Builds the client from an explicit SDK configuration.
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        ctx: MailContext,
        configuration_set: Option<String>,
    ) -> Self {
        Self { client: aws_sdk_sesv2::Client::new(config), ctx, configuration_set }
    }

    /// The SDK client (tests use it to verify identities on a fake).
    pub fn client(&self) -> &aws_sdk_sesv2::Client {
        &self.client
    }
}

fn content(text: &str) -> Result<Content, DeliveryError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| DeliveryError::Permanent(e.to_string()))
}

/// Sorts SES failures: throttling, server errors, time-outs and connection problems
/// are worth retrying; a rejected message, an unverified sender, a suspended or paused
/// account and a bad request are not.
pub fn classify<R: std::fmt::Debug>(err: &SdkError<SendEmailError, R>) -> DeliveryError {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let what = format!("{}: {}", e.code().unwrap_or("SES error"), e.message().unwrap_or(""));
            match e {
                SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
                    DeliveryError::Transient(what)
                }
                SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::AccountSuspendedException(_)
                | SendEmailError::SendingPausedException(_)
                | SendEmailError::BadRequestException(_)
                | SendEmailError::NotFoundException(_) => DeliveryError::Permanent(what),
                _ if e.code() == Some("Throttling") || e.code() == Some("ThrottlingException") => {
                    DeliveryError::Transient(what)
                }
                _ => {
                    let status = format!("{:?}", service.raw());
                    // Unmodelled errors: 5xx are the service's trouble, others ours.
                    if status.contains("status: StatusCode(5") || status.contains("status: 5") {
                        DeliveryError::Transient(what)
                    } else {
                        DeliveryError::Permanent(what)
                    }
                }
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            DeliveryError::Transient(format!("{err}"))
        }
        _ => DeliveryError::Permanent(format!("{err}")),
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        let rendered = render(email, &self.ctx).map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        let message = Message::builder()
            .subject(content(&rendered.subject)?)
            .body(Body::builder().text(content(&rendered.text)?).html(content(&rendered.html)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.ctx.from)
            .destination(Destination::builder().to_addresses(&rendered.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::info!(
                    to = %email.to, template = email.notification.template(),
                    ses_message_id = out.message_id().unwrap_or(""), "email sent through SES"
                );
                Ok(())
            }
            Err(e) => Err(classify(&e)),
        }
    }
}
