//! Invoking AWS Lambda functions through `aws-sdk-lambda`, with the SDK's own
//! retries turned off: the step's retry policy is the single source of truth.

use std::sync::Arc;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType as SdkInvocationType;
use serde_json::Value;

use super::payload::excerpt;
use super::{InvocationType, Invoker, Remote, RemoteKind, Target};
use crate::error::{ErrorClass, StepError, names};
use crate::saga::BoxFuture;

/// The largest synchronous (`RequestResponse`) payload Lambda accepts: 6 MB.
pub const MAX_SYNC_PAYLOAD: usize = 6_291_456;
/// The largest asynchronous (`Event`) payload Lambda accepts: 1 MB.
pub const MAX_EVENT_PAYLOAD: usize = 1_048_576;

/// Error names for failures of the Lambda service itself (not of the
/// function), as Step Functions names them.
mod lambda_names {
    pub const SDK_CLIENT: &str = "Lambda.SdkClientException";
}

/// Invokes Lambda functions with `aws-sdk-lambda`.
///
/// ```no_run
/// # async fn demo() {
/// use saga_core::invoke::LambdaInvoker;
/// // Credentials and region from aws-config's default chain:
/// let lambda = LambdaInvoker::from_env().await;
/// let reserve = lambda.function("reserve-flight");
/// let notify = lambda.function("arn:aws:lambda:eu-west-1:123456789012:function:notify:live").event();
/// # let _ = (reserve, notify);
/// // Against a local Invoke endpoint, with dummy credentials:
/// let local = LambdaInvoker::local("http://127.0.0.1:9000");
/// # let _ = local;
/// # }
/// ```
#[derive(Clone)]
pub struct LambdaInvoker {
    client: Client,
}

impl LambdaInvoker {
    /// A client configured from the environment by aws-config's default
    /// chain (credentials, region, `AWS_ENDPOINT_URL`), with SDK retries off.
    pub async fn from_env() -> Self {
        let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let config = aws_sdk_lambda::config::Builder::from(&shared)
            .retry_config(RetryConfig::disabled())
            .build();
        LambdaInvoker {
            client: Client::from_conf(config),
        }
    }

    /// A client for a local Invoke endpoint: dummy static credentials, region
    /// `us-east-1`, SDK retries off.
    pub fn local(endpoint_url: impl Into<String>) -> Self {
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "saga-core-local",
            ))
            .endpoint_url(endpoint_url)
            .retry_config(RetryConfig::disabled())
            .build();
        LambdaInvoker {
            client: Client::from_conf(config),
        }
    }

    /// Wraps a client configured by the caller. Keep its retries disabled,
    /// or every saga retry multiplies with the SDK's own.
    pub fn from_client(client: Client) -> Self {
        LambdaInvoker { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A synchronous (`RequestResponse`) binding to `function`: a name,
    /// `name:qualifier`, or an ARN.
    pub fn function(&self, function: impl Into<String>) -> Remote {
        Remote::new(
            Arc::new(self.clone()),
            Target {
                name: function.into(),
                invocation: InvocationType::RequestResponse,
            },
        )
    }

    async fn send(
        &self,
        target: &Target,
        kind: SdkInvocationType,
        payload: Vec<u8>,
    ) -> Result<aws_sdk_lambda::operation::invoke::InvokeOutput, StepError> {
        self.client
            .invoke()
            .function_name(&target.name)
            .invocation_type(kind)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| map_sdk_error(&target.name, e))
    }
}

impl Invoker for LambdaInvoker {
    fn kind(&self) -> RemoteKind {
        RemoteKind::Lambda
    }

    fn invoke<'a>(
        &'a self,
        target: &'a Target,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<Option<Value>, StepError>> {
        Box::pin(async move {
            let kind = match target.invocation {
                InvocationType::RequestResponse => SdkInvocationType::RequestResponse,
                InvocationType::Event => SdkInvocationType::Event,
            };
            let out = self.send(target, kind, payload).await?;
            if target.invocation == InvocationType::Event {
                return Ok(None);
            }
            let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
            if let Some(kind) = out.function_error() {
                return Err(function_error(&target.name, kind, body));
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(Value::Null));
            }
            serde_json::from_slice(body).map(Some).map_err(|e| {
                StepError::new(
                    ErrorClass::Terminal,
                    super::payload::BAD_OUTPUT,
                    format!(
                        "`{}` answered with a result that is not JSON ({e}): {}",
                        target.name,
                        excerpt(&String::from_utf8_lossy(body))
                    ),
                )
            })
        })
    }

    fn preflight<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), StepError>> {
        Box::pin(async move {
            self.send(target, SdkInvocationType::DryRun, b"{}".to_vec())
                .await
                .map(|_| ())
        })
    }

    fn max_payload(&self, target: &Target) -> usize {
        match target.invocation {
            InvocationType::RequestResponse => MAX_SYNC_PAYLOAD,
            InvocationType::Event => MAX_EVENT_PAYLOAD,
        }
    }
}

/// A function error (`X-Amz-Function-Error`): the payload's `errorType` is
/// the error name, and its class follows from the name.
fn function_error(function: &str, kind: &str, body: &[u8]) -> StepError {
    #[derive(serde::Deserialize)]
    struct Payload {
        #[serde(rename = "errorType")]
        error_type: Option<String>,
        #[serde(rename = "errorMessage")]
        error_message: Option<String>,
    }
    match serde_json::from_slice::<Payload>(body) {
        Ok(Payload {
            error_type: Some(name),
            error_message,
        }) => StepError::from_remote(&name, error_message.unwrap_or_default()),
        _ => StepError::new(
            ErrorClass::Ambiguous,
            names::AMBIGUOUS,
            format!(
                "`{function}` failed ({kind}) without an error payload: {}",
                excerpt(&String::from_utf8_lossy(body))
            ),
        ),
    }
}

/// Lambda service errors by code: those that mean the function did not run
/// and may run later are retryable ([`names::LAMBDA_RETRYABLE`]); those that
/// mean it did not run and will not are terminal ([`names::LAMBDA_TERMINAL`]);
/// everything else leaves the outcome unknown.
fn map_sdk_error(function: &str, err: SdkError<InvokeError>) -> StepError {
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("UnknownError").to_owned();
            let status = service.raw().status().as_u16();
            let message = service.err().message().unwrap_or_default();
            let name = format!("Lambda.{code}");
            // By name only, as the generated state machine matches: an
            // unlisted 4xx is resolved like any unknown outcome in both.
            let class = if names::LAMBDA_RETRYABLE.contains(&name.as_str()) {
                ErrorClass::Retryable
            } else if names::LAMBDA_TERMINAL.contains(&name.as_str()) {
                ErrorClass::Terminal
            } else {
                ErrorClass::Ambiguous
            };
            StepError::new(
                class,
                name,
                format!("invoking `{function}`: HTTP {status}: {message}"),
            )
        }
        SdkError::TimeoutError(_) => StepError::timeout(format!("invoking `{function}` timed out")),
        // A transport failure may strike after the request was sent.
        _ => StepError::new(
            ErrorClass::Ambiguous,
            lambda_names::SDK_CLIENT,
            format!(
                "invoking `{function}`: {}",
                aws_sdk_lambda::error::DisplayErrorContext(&err)
            ),
        ),
    }
}
