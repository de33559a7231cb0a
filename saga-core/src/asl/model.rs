//! A typed model of the Amazon States Language (JSONPath mode), limited to
//! what saga state machines use. It serialises to, and parses from, ASL JSON.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An ASL state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateMachine {
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The first state.
    pub start_at: String,
    /// The execution-level timeout. It cannot be caught, so compensations do
    /// not run when it strikes; the generator checks it against the worst case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// The states, in a stable order.
    pub states: States,
}

impl StateMachine {
    /// Stable, pretty-printed ASL JSON.
    pub fn to_json(&self) -> String {
        // The model holds only strings, numbers, maps and JSON values: it
        // always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The state named `name`.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}

/// The states of a machine, serialised as a JSON object in insertion order.
/// Duplicate names are representable so that the self-check can report them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct States(pub Vec<(String, State)>);

impl States {
    /// The state named `name`.
    pub fn get(&self, name: &str) -> Option<&State> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// Every state with its name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &State)> {
        self.0.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// The state named `name`, here or inside a `Parallel` state's branch at
    /// any depth.
    pub fn find(&self, name: &str) -> Option<&State> {
        self.get(name).or_else(|| {
            self.0
                .iter()
                .flat_map(|(_, s)| s.branches())
                .find_map(|b| b.states.find(name))
        })
    }
}

impl Serialize for States {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, state) in &self.0 {
            map.serialize_entry(name, state)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for States {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatesVisitor;
        impl<'de> Visitor<'de> for StatesVisitor {
            type Value = States;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of state names to states")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<States, A::Error> {
                let mut states = Vec::new();
                while let Some(entry) = access.next_entry::<String, State>()? {
                    states.push(entry);
                }
                Ok(States(states))
            }
        }
        deserializer.deserialize_map(StatesVisitor)
    }
}

/// One state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum State {
    /// Calls a resource, here `arn:aws:states:::lambda:invoke`.
    Task(Task),
    /// Ends the execution successfully.
    Succeed(Succeed),
    /// Ends the execution with an error.
    Fail(Fail),
    /// Runs branches concurrently and collects their outputs in an array.
    Parallel(Parallel),
    /// Goes to the first rule's `Next` that matches, or to `Default`.
    Choice(Choice),
    /// Reshapes the state and moves on.
    Pass(Pass),
}

impl State {
    /// Every state this one may transition to in its own scope: `Next`, the
    /// catchers' `Next`, a Choice's rules and `Default`. A `Parallel` state's
    /// branches are scopes of their own, not successors.
    pub fn successors(&self) -> Vec<&str> {
        match self {
            State::Task(task) => task
                .next
                .iter()
                .map(String::as_str)
                .chain(task.catch.iter().map(|c| c.next.as_str()))
                .collect(),
            State::Parallel(parallel) => parallel
                .next
                .iter()
                .map(String::as_str)
                .chain(parallel.catch.iter().map(|c| c.next.as_str()))
                .collect(),
            State::Choice(choice) => choice
                .choices
                .iter()
                .map(|rule| rule.next.as_str())
                .chain(choice.default.as_deref())
                .collect(),
            State::Pass(pass) => pass.next.iter().map(String::as_str).collect(),
            State::Succeed(_) | State::Fail(_) => Vec::new(),
        }
    }

    /// The branches of a `Parallel` state; empty for any other state.
    pub fn branches(&self) -> &[Branch] {
        match self {
            State::Parallel(parallel) => &parallel.branches,
            _ => &[],
        }
    }
}

/// A Task state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The integration ARN.
    pub resource: String,
    /// The request, as a JSONPath-mode template (`"key.$": "$.path"`).
    pub parameters: Value,
    /// Reshapes the raw result before `ResultPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_selector: Option<Value>,
    /// Where the result goes in the state's input; `Discard` keeps the input.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result_path: Option<ResultPath>,
    /// Seconds one attempt may take before `States.Timeout`.
    pub timeout_seconds: u32,
    /// Seconds between heartbeats, below `TimeoutSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u32>,
    /// Retriers, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retrier>,
    /// Catchers, tried in order once the retriers gave up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<Catcher>,
    /// The next state; `None` when `End` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Whether this state ends the execution (or its `Parallel` branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<bool>,
}

/// A `ResultPath`: a path, or `null` to discard the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResultPath {
    /// Merge the result at this path.
    Path(String),
    /// `null`: discard the result and pass the input on.
    Discard(()),
}

/// A `ResultPath` that is present, `null` included: `null` means discard,
/// which is not the same as an absent field.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ResultPath>, D::Error> {
    ResultPath::deserialize(d).map(Some)
}

/// A retrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Retrier {
    /// The error names this retrier handles.
    pub error_equals: Vec<String>,
    /// The wait before the first retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u32>,
    /// How many retries (not calls); 0 never retries.
    pub max_attempts: u32,
    /// The multiplier of the wait after each retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_rate: Option<f64>,
    /// The cap on any single wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_seconds: Option<u32>,
    /// `FULL` jitter or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_strategy: Option<JitterStrategy>,
}

/// The ASL `JitterStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JitterStrategy {
    /// A uniformly random wait between zero and the computed delay.
    Full,
    /// The computed delay.
    None,
}

/// A catcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Catcher {
    /// The error names this catcher handles.
    pub error_equals: Vec<String>,
    /// The state to go to.
    pub next: String,
    /// Where `{Error, Cause}` goes in the state's input.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result_path: Option<ResultPath>,
}

/// A Succeed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Succeed {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Selects the execution's output from the state's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
}

/// A Fail state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Fail {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The execution's error name. `States.*` names are reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The path of the error name in the state's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_path: Option<String>,
    /// The execution's cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The path of the cause in the state's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_path: Option<String>,
}

/// A Parallel state: every branch starts with the state's input, and the
/// state's result is the array of the branches' outputs, in branch order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parallel {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The branches, each a state machine of its own.
    pub branches: Vec<Branch>,
    /// Reshapes the array of branch outputs before `ResultPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_selector: Option<Value>,
    /// Where the result goes in the state's input; `Discard` keeps the input.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result_path: Option<ResultPath>,
    /// Retriers of a failed branch, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retrier>,
    /// Catchers of a failed branch, tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<Catcher>,
    /// The next state; `None` when `End` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Whether this state ends its scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<bool>,
}

/// One branch of a Parallel state. Its states may only transition to one
/// another, and it ends where a state has `End` or is a Succeed or Fail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Branch {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The branch's first state.
    pub start_at: String,
    /// The branch's states, in a stable order.
    pub states: States,
}

/// A Choice state, limited to the rules saga state machines use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Choice {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The rules, tried in order.
    pub choices: Vec<ChoiceRule>,
    /// Where to go when no rule matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A Choice rule that tests whether a field is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChoiceRule {
    /// The path tested.
    pub variable: String,
    /// True: the rule matches when the path exists; false: when it does not.
    pub is_present: bool,
    /// Where to go when the rule matches.
    pub next: String,
}

/// A Pass state: its result is its effective input (after `InputPath`), or
/// `Parameters` resolved against that input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pass {
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Selects the effective input from the state's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    /// The result, as a JSONPath-mode template (`"key.$": "$.path"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Where the result goes in the state's input.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result_path: Option<ResultPath>,
    /// The next state; `None` when `End` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Whether this state ends its scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<bool>,
}
