//! The payload contract, identical in every engine.
//!
//! A step's remote function receives one JSON object with a key per argument,
//! named after the parameter, plus `saga`, the metadata object:
//!
//! ```json
//! { "trip": { ... }, "flight": { ... },
//!   "saga": { "saga_id": "trip-1", "saga_name": "BookTrip", "step": "reserve_hotel",
//!             "direction": "forward", "idempotency_key": "trip-1/reserve_hotel" } }
//! ```
//!
//! A compensation receives the same object with `direction: "compensation"`
//! plus `output`, the step's output. `saga` and `output` are therefore
//! reserved parameter names (`#[saga_step]` rejects them).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::{Direction, SagaId};
use crate::error::{ErrorClass, StepError};
use crate::step::Step;

/// The key of the metadata object.
pub const METADATA_KEY: &str = "saga";
/// The key of the step's output in a compensation's payload.
pub const OUTPUT_KEY: &str = "output";
/// The error name of a payload that does not fit the contract.
pub const BAD_PAYLOAD: &str = crate::error::names::BAD_PAYLOAD;
/// The error name of a result that does not fit the step's output type.
pub const BAD_OUTPUT: &str = crate::error::names::BAD_OUTPUT;
/// The error name of a payload over the invoker's limit.
pub const PAYLOAD_TOO_LARGE: &str = crate::error::names::PAYLOAD_TOO_LARGE;

/// The metadata every invocation carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The saga run.
    pub saga_id: SagaId,
    /// The saga's name.
    pub saga_name: String,
    /// The step.
    pub step: String,
    /// Forward or compensation.
    pub direction: Direction,
    /// `<saga id>/<step name>`.
    pub idempotency_key: String,
}

impl Metadata {
    /// The metadata of one invocation of `step`.
    pub fn new(saga_id: &SagaId, saga_name: &str, step: &str, direction: Direction) -> Self {
        Metadata {
            idempotency_key: format!("{saga_id}/{step}"),
            saga_id: saga_id.clone(),
            saga_name: saga_name.to_owned(),
            step: step.to_owned(),
            direction,
        }
    }
}

fn bad(name: &'static str, message: String) -> StepError {
    StepError::new(ErrorClass::Terminal, name, message)
}

/// Shortens `json` for an error message.
pub fn excerpt(json: &str) -> String {
    const MAX: usize = 200;
    match json.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} bytes)", &json[..cut], json.len()),
        None => json.to_owned(),
    }
}

/// Builds the payload of step `S`: its arguments, the metadata and, for a
/// compensation, the step's output.
pub fn request<S: Step>(
    args: &S::Args<'_>,
    output: Option<&S::Output>,
    metadata: &Metadata,
) -> Result<Value, StepError> {
    let encode = |e: serde_json::Error| {
        bad(
            BAD_PAYLOAD,
            format!("cannot serialise the arguments of `{}`: {e}", S::NAME),
        )
    };
    let values = match serde_json::to_value(args).map_err(encode)? {
        Value::Array(values) => values,
        // A step without parameters has the unit tuple as arguments.
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut object = Map::with_capacity(S::PARAMS.len() + 2);
    for (name, value) in S::PARAMS.iter().zip(values) {
        object.insert((*name).to_owned(), value);
    }
    object.insert(
        METADATA_KEY.to_owned(),
        serde_json::to_value(metadata).map_err(encode)?,
    );
    if let Some(output) = output {
        object.insert(
            OUTPUT_KEY.to_owned(),
            serde_json::to_value(output).map_err(encode)?,
        );
    }
    Ok(Value::Object(object))
}

/// What a remote function receives, parsed back into the step's types.
pub struct Parsed<S: Step> {
    /// The arguments, owned.
    pub args: S::Owned,
    /// The step's output, in a compensation's payload.
    pub output: Option<S::Output>,
    /// The metadata.
    pub metadata: Metadata,
}

/// Parses the payload of step `S`. A payload that does not fit is a terminal
/// error naming the offending key.
pub fn parse<S: Step>(payload: Value) -> Result<Parsed<S>, StepError> {
    let Value::Object(mut object) = payload else {
        return Err(bad(
            BAD_PAYLOAD,
            format!(
                "the payload of `{}` is not a JSON object: {}",
                S::NAME,
                excerpt(&payload.to_string())
            ),
        ));
    };
    let metadata: Metadata = match object.remove(METADATA_KEY) {
        Some(m) => serde_json::from_value(m).map_err(|e| {
            bad(
                BAD_PAYLOAD,
                format!("bad `{METADATA_KEY}` in the payload of `{}`: {e}", S::NAME),
            )
        })?,
        None => {
            return Err(bad(
                BAD_PAYLOAD,
                format!(
                    "the payload of `{}` has no `{METADATA_KEY}` object",
                    S::NAME
                ),
            ));
        }
    };
    let mut values = Vec::with_capacity(S::PARAMS.len());
    for name in S::PARAMS {
        match object.remove(*name) {
            Some(v) => values.push(v),
            None => {
                return Err(bad(
                    BAD_PAYLOAD,
                    format!("the payload of `{}` has no `{name}`", S::NAME),
                ));
            }
        }
    }
    let args = serde_json::from_value(Value::Array(values)).map_err(|e| {
        bad(
            BAD_PAYLOAD,
            format!(
                "the arguments of `{}` do not fit its parameter types: {e}",
                S::NAME
            ),
        )
    })?;
    let output = match (metadata.direction, object.remove(OUTPUT_KEY)) {
        (Direction::Compensation, Some(o)) => Some(serde_json::from_value(o).map_err(|e| {
            bad(
                BAD_PAYLOAD,
                format!(
                    "the `{OUTPUT_KEY}` of `{}` does not fit its type: {e}",
                    S::NAME
                ),
            )
        })?),
        (Direction::Compensation, None) => {
            return Err(bad(
                BAD_PAYLOAD,
                format!(
                    "the compensation payload of `{}` has no `{OUTPUT_KEY}`",
                    S::NAME
                ),
            ));
        }
        (Direction::Forward, _) => None,
    };
    Ok(Parsed {
        args,
        output,
        metadata,
    })
}

/// Decodes a remote function's result into the step's output type.
pub fn decode_output<S: Step>(json: Value) -> Result<S::Output, StepError> {
    serde_json::from_value(json.clone()).map_err(|e| {
        bad(
            BAD_OUTPUT,
            format!(
                "the result of `{}` does not fit its output type ({e}): {}",
                S::NAME,
                excerpt(&json.to_string())
            ),
        )
    })
}
