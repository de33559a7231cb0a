//! Validation: interprets the saga body as typed data flow between steps and
//! reports every problem at once, spanned on the user's token.

use std::collections::HashMap;

use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Macro, Pat, ReturnType, Stmt, Token};

use super::model::{Arg, Saga, Source, StepUse};
use super::parse::SagaSyntax;
use crate::errors::Errors;

const BODY_HELP: &str = "a saga body holds `let name = step(args);`, `step(args);` or `let (a, b) = join!(step_a(args), step_b(args));` statements, then an optional result expression";
const JOIN_HELP: &str = "`join!` runs steps concurrently: `let (a, b) = join!(step_a(args), step_b(args));` with two or more step calls";
const ARG_HELP: &str = "a step argument is `&name` (lend the value) or `name` (pass a clone), where `name` is the saga input or the result of an earlier step";

pub fn check(syntax: &SagaSyntax, errors: &mut Errors) -> Option<Saga> {
    let name = syntax.name.clone();
    let input = check_input(syntax, errors);
    let output = match &syntax.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };

    // Pass 1: shape of every statement.
    let mut steps = Vec::new();
    let mut groups = Vec::new();
    let mut result = None;
    let last = syntax.body.len().saturating_sub(1);
    for (i, stmt) in syntax.body.iter().enumerate() {
        match stmt {
            Stmt::Local(local) => {
                if let Some(init) = &local.init
                    && init.diverge.is_none()
                    && let Expr::Macro(m) = &*init.expr
                    && m.mac.path.is_ident("join")
                {
                    join(&m.mac, Some(&local.pat), &mut steps, &mut groups, errors);
                    continue;
                }
                let (binding, ty) = match &local.pat {
                    Pat::Ident(p)
                        if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() =>
                    {
                        (Some(p.ident.clone()), None)
                    }
                    Pat::Wild(_) => (None, None),
                    Pat::Type(t) => match &*t.pat {
                        Pat::Ident(p)
                            if p.by_ref.is_none()
                                && p.mutability.is_none()
                                && p.subpat.is_none() =>
                        {
                            (Some(p.ident.clone()), Some((*t.ty).clone()))
                        }
                        Pat::Wild(_) => (None, Some((*t.ty).clone())),
                        other => {
                            errors.spanned(other, "bind a step's result to a plain name");
                            continue;
                        }
                    },
                    other => {
                        errors.spanned(
                            other,
                            "bind a step's result to a plain name: `let name = step(...);`",
                        );
                        continue;
                    }
                };
                let Some(init) = &local.init else {
                    errors.spanned(local, format!("`let` without a step call: {BODY_HELP}"));
                    continue;
                };
                if let Some((_, diverge)) = &init.diverge {
                    errors.spanned(diverge, "`let ... else` is not supported in a saga body");
                    continue;
                }
                if let Some(mut step) = step_call(&init.expr, errors) {
                    step.binding = binding;
                    step.ty = ty;
                    steps.push(step);
                }
            }
            Stmt::Macro(m) if m.mac.path.is_ident("join") => {
                join(&m.mac, None, &mut steps, &mut groups, errors)
            }
            Stmt::Expr(expr, Some(_)) => {
                if let Some(step) = step_call(expr, errors) {
                    steps.push(step);
                }
            }
            Stmt::Expr(Expr::Macro(m), None) if m.mac.path.is_ident("join") => errors.spanned(
                m,
                format!(
                    "`join!` is a statement, not the saga's result: end it with `;` ({JOIN_HELP})"
                ),
            ),
            Stmt::Expr(expr, None) if i == last => result = Some(expr.clone()),
            other => errors.spanned(other, BODY_HELP),
        }
    }
    if steps.is_empty() && errors.is_empty() {
        errors.at(
            syntax.brace,
            format!("saga `{name}` has no steps: {BODY_HELP}"),
        );
    }
    if let (ReturnType::Type(arrow, ty), None) = (&syntax.output, &result) {
        errors.spanned(
            quote::quote!(#arrow #ty),
            format!("saga `{name}` declares an output, so its body must end with a result expression (without `;`)"),
        );
    }

    // Pass 2: names. Steps run once each; bindings are unique; arguments resolve.
    let (input_name, _) = input.clone().unzip();
    let mut step_names: HashMap<String, usize> = HashMap::new();
    let mut bindings: HashMap<String, usize> = HashMap::new();
    let defined_at: HashMap<String, usize> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s.binding.as_ref()?.to_string(), i)))
        .collect();
    let names: Vec<String> = steps.iter().map(|s| s.name.to_string()).collect();
    // The bindings of a group's branches become visible once the group ends.
    let group_of = |i: usize| groups.iter().find(|&&(s, e)| s <= i && i < e).copied();
    let mut unpublished: Vec<(String, usize)> = Vec::new();
    for (i, step) in steps.iter_mut().enumerate() {
        let step_name = step.name.to_string();
        if step_names.insert(step_name.clone(), i).is_some() {
            errors.spanned(&step.path, format!("step `{step_name}` is used twice in saga `{name}`: a step runs at most once per saga"));
        }
        if input_name.as_ref().is_some_and(|n| *n == step_name) {
            errors.spanned(
                &step.path,
                format!(
                    "the saga input `{step_name}` has the same name as a step: rename the input"
                ),
            );
        }
        for arg in &mut step.args {
            let ident = &arg.name;
            let key = ident.to_string();
            arg.source = if input_name.as_ref().is_some_and(|n| *n == key) {
                Source::Input
            } else if let Some(&j) = bindings.get(&key) {
                Source::Step(j)
            } else if let Some(&j) = defined_at.get(&key) {
                if group_of(i).is_some_and(|(s, e)| s <= j && j < e) {
                    errors.spanned(ident, format!("`{key}` comes from step `{}`, a branch of the same `join!` as step `{step_name}`: branches run concurrently and cannot use each other's results", names[j]));
                } else {
                    errors.spanned(ident, format!("`{key}` is used before it is defined: step `{step_name}` runs before step `{}`, which produces it", names[j]));
                }
                Source::Input
            } else {
                // Without a valid input, unknown names are most likely that input:
                // say nothing more than the input error already says.
                if input_name.is_some() {
                    errors.spanned(ident, format!("unknown name `{key}`: {ARG_HELP}"));
                }
                Source::Input
            };
        }
        if let Some(b) = &step.binding {
            let key = b.to_string();
            let taken = bindings.contains_key(&key)
                || unpublished.iter().any(|(k, _)| *k == key)
                || input_name.as_ref().is_some_and(|n| *n == key);
            if taken {
                errors.spanned(
                    b,
                    format!(
                        "`{key}` is already defined in saga `{name}`: give each result its own name"
                    ),
                );
            } else {
                unpublished.push((key, i));
            }
        }
        if group_of(i).is_none_or(|(_, e)| i + 1 == e) {
            bindings.extend(unpublished.drain(..));
        }
    }
    let (input, input_ty) = input?;
    Some(Saga {
        attrs: syntax.attrs.clone(),
        vis: syntax.vis.clone(),
        name,
        input,
        input_ty,
        output,
        steps,
        groups,
        result,
    })
}

/// `join!(a(..), b(..), ...)`, bound by `pattern` (`(x, _, y)`, or `_`) if
/// given: one step per branch, recorded as a group.
fn join(
    mac: &Macro,
    pattern: Option<&Pat>,
    steps: &mut Vec<StepUse>,
    groups: &mut Vec<(usize, usize)>,
    errors: &mut Errors,
) {
    let calls = match mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
        Ok(calls) => calls,
        Err(e) => {
            errors.at(e.span(), format!("{e}: {JOIN_HELP}"));
            return;
        }
    };
    if calls.len() < 2 {
        errors.spanned(
            mac,
            format!("`join!` needs at least two branches: {JOIN_HELP}"),
        );
        return;
    }
    // One optional binding per branch.
    let bindings: Vec<Option<Ident>> = match pattern {
        None | Some(Pat::Wild(_)) => vec![None; calls.len()],
        Some(Pat::Tuple(tuple)) => {
            let mut names = Vec::new();
            for elem in &tuple.elems {
                match elem {
                    Pat::Ident(p)
                        if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() =>
                    {
                        names.push(Some(p.ident.clone()))
                    }
                    Pat::Wild(_) => names.push(None),
                    other => {
                        errors.spanned(other, "bind each branch's result to a plain name or `_`");
                        return;
                    }
                }
            }
            if names.len() != calls.len() {
                errors.spanned(
                    tuple,
                    format!(
                        "`join!` has {} branches, but the pattern binds {}: one name (or `_`) per branch",
                        calls.len(),
                        names.len()
                    ),
                );
                return;
            }
            names
        }
        Some(Pat::Type(typed)) => {
            errors.spanned(
                typed,
                "the results of `join!` take no type annotation: each branch's type is its step's output",
            );
            return;
        }
        Some(other) => {
            errors.spanned(
                other,
                "bind the results of `join!` to a tuple of names: `let (a, b) = join!(...);`",
            );
            return;
        }
    };
    let start = steps.len();
    for (call, binding) in calls.iter().zip(bindings) {
        if let Some(mut step) = step_call(call, errors) {
            step.binding = binding;
            steps.push(step);
        }
    }
    if steps.len() == start + calls.len() {
        groups.push((start, steps.len()));
    }
}

fn check_input(syntax: &SagaSyntax, errors: &mut Errors) -> Option<(Ident, syn::Type)> {
    let name = &syntax.name;
    if syntax.params.len() != 1 {
        errors.at(
            syntax.name.span(),
            format!("saga `{name}` takes exactly one input: `saga {name}(input: Type)`; bundle several values in a struct"),
        );
        return None;
    }
    let param = syntax.params.first()?;
    match &*param.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            Some((p.ident.clone(), (*param.ty).clone()))
        }
        other => {
            errors.spanned(other, "the saga input must be a plain name");
            None
        }
    }
}

/// `path(args)` with each argument `&name` or `name`.
fn step_call(expr: &Expr, errors: &mut Errors) -> Option<StepUse> {
    let Expr::Call(call) = expr else {
        errors.spanned(expr, format!("expected a step call: {BODY_HELP}"));
        return None;
    };
    let path = match &*call.func {
        Expr::Path(p) if p.qself.is_none() => p.path.clone(),
        other => {
            errors.spanned(other, "expected the name of a `#[saga_step]` function");
            return None;
        }
    };
    if let Some(seg) = path.segments.iter().find(|s| !s.arguments.is_none()) {
        errors.spanned(
            &seg.arguments,
            "steps are not generic: remove the type arguments",
        );
        return None;
    }
    let name = path.segments.last()?.ident.clone();
    let mut ok = true;
    let mut args = Vec::new();
    for a in &call.args {
        let (name, by_ref) = match a {
            Expr::Reference(r) if r.mutability.is_none() => match name_of(&r.expr) {
                Some(n) => (n, true),
                None => {
                    errors.spanned(a, ARG_HELP);
                    ok = false;
                    continue;
                }
            },
            e => match name_of(e) {
                Some(n) => (n, false),
                None => {
                    errors.spanned(a, ARG_HELP);
                    ok = false;
                    continue;
                }
            },
        };
        args.push(Arg {
            expr: a.clone(),
            name,
            by_ref,
            source: Source::Input,
        });
    }
    ok.then(|| StepUse {
        path,
        name,
        binding: None,
        ty: None,
        args,
        call: expr.clone(),
    })
}

fn name_of(e: &Expr) -> Option<Ident> {
    match e {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
        _ => None,
    }
}
