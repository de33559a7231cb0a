//! Validation: turns the parsed function and options into a [`Step`], recording
//! every problem, each spanned on the user's offending token.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, FnArg, Lit, Meta, Pat, ReturnType};

use super::model::{Kind, Param, Retry, Step};
use super::parse::StepFn;
use crate::errors::Errors;

const KIND_HELP: &str = "add `compensate = ...`, or mark it `pivot` or `retriable`";
/// ASL's upper bound for `MaxAttempts`, `IntervalSeconds` and `TimeoutSeconds`.
const ASL_MAX: u64 = 99_999_999;
/// ASL's bound for `MaxDelaySeconds` (exclusive).
const ASL_MAX_DELAY: u64 = 31_622_401;

pub fn check(func: &StepFn, options: Vec<Meta>, errors: &mut Errors) -> Option<Step> {
    let name = func.sig.ident.clone();
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut kind: Option<(Kind, &'static str)> = None;
    let mut retry = None;
    let mut timeout_seconds = 60u32;

    for meta in &options {
        let key = meta.path().to_token_stream().to_string().replace(' ', "");
        // Duplicates are checked once, generically, for every option.
        if seen.insert(key.clone(), meta.span()).is_some() {
            errors.spanned(meta, format!("duplicate `{key}` on step `{name}`"));
            continue;
        }
        let new_kind = match (key.as_str(), meta) {
            ("compensate", Meta::NameValue(nv)) => match &nv.value {
                Expr::Path(p) if p.qself.is_none() => {
                    Some((Kind::Compensate(p.path.clone()), "compensate"))
                }
                other => {
                    errors.spanned(other, "`compensate` takes the path of an async function, e.g. `compensate = cancel_flight`");
                    None
                }
            },
            ("pivot", Meta::Path(_)) => Some((Kind::Pivot, "pivot")),
            ("retriable", Meta::Path(_)) => Some((Kind::Retriable, "retriable")),
            ("retry", Meta::List(list)) => {
                retry = parse_retry(list, errors);
                None
            }
            ("timeout_seconds", Meta::NameValue(nv)) => {
                if let Some(v) = int_in(&nv.value, 1, ASL_MAX, "timeout_seconds", errors) {
                    timeout_seconds = v;
                }
                None
            }
            ("compensate", _) => {
                errors.spanned(meta, "write `compensate = path_to_async_fn`");
                None
            }
            ("pivot" | "retriable", _) => {
                errors.spanned(
                    meta,
                    format!("`{key}` takes no value: write `#[saga_step({key})]`"),
                );
                None
            }
            ("retry", _) => {
                errors.spanned(meta, "write `retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 2.0, max_delay_seconds = 30, jitter = full)`");
                None
            }
            ("timeout_seconds", _) => {
                errors.spanned(meta, "write `timeout_seconds = N` with N in seconds");
                None
            }
            _ => {
                errors.spanned(
                    meta.path(),
                    format!("unknown option `{key}` on step `{name}`: expected `compensate = path`, `pivot`, `retriable`, `retry(...)` or `timeout_seconds = N`"),
                );
                None
            }
        };
        if let Some((k, word)) = new_kind {
            match &kind {
                Some((_, first)) => errors.spanned(
                    meta,
                    format!("step `{name}` declares both `{first}` and `{word}`: choose exactly one of `compensate = ...`, `pivot` or `retriable`"),
                ),
                None => kind = Some((k, word)),
            }
        }
    }
    if kind.is_none() && !options.iter().any(|m| matches!(m.path().get_ident(), Some(i) if i == "compensate" || i == "pivot" || i == "retriable")) {
        errors.spanned(&name, format!("step `{name}` has no compensation: {KIND_HELP}"));
    }

    let params = check_signature(func, errors);
    let ret = match &func.sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.spanned(
                &func.sig,
                format!("step `{name}` must return `Result<T, StepError>`"),
            );
            None
        }
    };
    Some(Step {
        name,
        vis: func.vis.clone(),
        kind: kind.map_or(Kind::Placeholder, |k| k.0),
        retry,
        timeout_seconds,
        params: params?,
        ret: ret?,
        has_body: func.body.is_some(),
    })
}

fn check_signature(func: &StepFn, errors: &mut Errors) -> Option<Vec<Param>> {
    let sig = &func.sig;
    let name = &sig.ident;
    let mut ok = true;
    let mut fail = |errors: &mut Errors, tokens: &dyn ToTokens, msg: String| {
        errors.spanned(tokens, msg);
        ok = false;
    };
    if sig.asyncness.is_none() {
        fail(
            errors,
            &sig.fn_token,
            format!("step `{name}` must be an `async fn`"),
        );
    }
    if let Some(c) = &sig.constness {
        fail(errors, c, format!("step `{name}` cannot be `const`"));
    }
    if let Some(u) = &sig.unsafety {
        fail(errors, u, format!("step `{name}` cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(
            errors,
            &sig.generics,
            format!(
                "step `{name}` cannot be generic: its types are fixed by the saga's payload contract"
            ),
        );
    }
    if let Some(v) = &sig.variadic {
        fail(errors, v, format!("step `{name}` cannot be variadic"));
    }
    let mut params = Vec::new();
    for arg in &sig.inputs {
        let typed = match arg {
            FnArg::Typed(t) => t,
            FnArg::Receiver(r) => {
                fail(
                    errors,
                    r,
                    format!("step `{name}` must be a free function, not a method"),
                );
                continue;
            }
        };
        let ident = match &*typed.pat {
            Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => p.ident.clone(),
            other => {
                fail(errors, other, "step parameters must be plain names: the name is the key in the step's JSON payload".to_string());
                continue;
            }
        };
        if ident == "saga" || ident == "output" {
            fail(
                errors,
                &ident,
                format!(
                    "the parameter name `{ident}` is reserved by the payload contract (its `saga` metadata and a compensation's `output`): rename it"
                ),
            );
            continue;
        }
        let mut ty = (*typed.ty).clone();
        let mut lifetimes = NameLifetimes::default();
        lifetimes.visit_type_mut(&mut ty);
        for (tokens, msg) in lifetimes.problems {
            fail(errors, &tokens, msg);
        }
        params.push(Param {
            span: typed.span(),
            name: ident,
            ty,
        });
    }
    ok.then_some(params)
}

/// Names every elided lifetime `'__saga`, and reports what a step type cannot hold.
#[derive(Default)]
struct NameLifetimes {
    problems: Vec<(proc_macro2::TokenStream, String)>,
}

impl VisitMut for NameLifetimes {
    fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
        if let Some(m) = &r.mutability {
            self.problems.push((m.to_token_stream(), "step parameters cannot be `&mut`: the saga state is shared by the step and its compensation".into()));
        }
        if r.lifetime.is_none() {
            r.lifetime = Some(syn::Lifetime::new("'__saga", r.and_token.span));
        }
        syn::visit_mut::visit_type_reference_mut(self, r);
    }

    fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
        if l.ident == "_" {
            *l = syn::Lifetime::new("'__saga", l.span());
        } else if l.ident != "static" && l.ident != "__saga" {
            self.problems.push((l.to_token_stream(), format!("step parameters cannot name the lifetime `{l}`: write `&T`, and the saga state will lend the value")));
        }
    }

    fn visit_type_impl_trait_mut(&mut self, t: &mut syn::TypeImplTrait) {
        self.problems.push((
            t.to_token_stream(),
            "step parameters cannot be `impl Trait`: use a concrete, serialisable type".into(),
        ));
    }
}

fn parse_retry(list: &syn::MetaList, errors: &mut Errors) -> Option<Retry> {
    let metas = match list
        .parse_args_with(syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated)
    {
        Ok(m) => m,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let mut retry = Retry::default();
    let mut seen = HashMap::new();
    let mut ok = true;
    for meta in &metas {
        let key = meta.path().to_token_stream().to_string();
        if seen.insert(key.clone(), ()).is_some() {
            errors.spanned(meta, format!("duplicate `{key}` in `retry(...)`"));
            ok = false;
            continue;
        }
        let Meta::NameValue(nv) = meta else {
            errors.spanned(meta, format!("write `{key} = value`"));
            ok = false;
            continue;
        };
        let v = &nv.value;
        match key.as_str() {
            "max_attempts" => match int_in(v, 0, ASL_MAX, "max_attempts", errors) {
                Some(n) => retry.max_attempts = Some(n),
                None => ok = false,
            },
            "interval_seconds" => match int_in(v, 1, ASL_MAX, "interval_seconds", errors) {
                Some(n) => retry.interval_seconds = Some(n),
                None => ok = false,
            },
            "max_delay_seconds" => {
                match int_in(v, 1, ASL_MAX_DELAY - 1, "max_delay_seconds", errors) {
                    Some(n) => retry.max_delay_seconds = Some(n),
                    None => ok = false,
                }
            }
            "backoff_rate" => match float(v) {
                Some(r) if r >= 1.0 && r.is_finite() => retry.backoff_rate = Some(r),
                _ => {
                    errors.spanned(
                        v,
                        "`backoff_rate` must be a number >= 1.0 (ASL `BackoffRate`)",
                    );
                    ok = false;
                }
            },
            "jitter" => match v {
                Expr::Path(p) if p.path.is_ident("full") => retry.full_jitter = Some(true),
                Expr::Path(p) if p.path.is_ident("none") => retry.full_jitter = Some(false),
                other => {
                    errors.spanned(other, "`jitter` is `full` or `none` (ASL `JitterStrategy`)");
                    ok = false;
                }
            },
            _ => {
                errors.spanned(meta.path(), format!("unknown retry option `{key}`: expected `max_attempts`, `interval_seconds`, `backoff_rate`, `max_delay_seconds` or `jitter`"));
                ok = false;
            }
        }
    }
    ok.then_some(retry)
}

fn int_in(expr: &Expr, min: u64, max: u64, what: &str, errors: &mut Errors) -> Option<u32> {
    let value = match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<u64>().ok(),
        _ => None,
    };
    match value {
        Some(v) if (min..=max).contains(&v) => u32::try_from(v).ok(),
        _ => {
            errors.spanned(
                expr,
                format!("`{what}` must be a whole number from {min} to {max}"),
            );
            None
        }
    }
}

fn float(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse().ok(),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<u32>().ok().map(f64::from),
        _ => None,
    }
}
