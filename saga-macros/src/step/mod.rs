//! `#[saga_step(...)]`: parse → check → expand.

mod check;
mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

use crate::errors::Errors;

/// Expands `#[saga_step(args)] item`.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let func = match syn::parse2::<parse::StepFn>(item.clone()) {
        Ok(func) => func,
        Err(e) => {
            // Not even a function: report it and hand the tokens back untouched.
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    let options = parse::parse_options(args, &mut errors);
    let step = check::check(&func, options, &mut errors);
    let user_fn = expand::user_fn(&func);
    let compile_errors = errors.to_compile_errors();
    // On bad options the function and a placeholder step are still emitted,
    // so that its uses (and sagas naming it) do not fail a second time.
    let glue = step.as_ref().map(expand::step_glue);
    quote!(#compile_errors #user_fn #glue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expands_to_error(args: TokenStream, item: TokenStream) -> String {
        let out = expand(args, item).to_string();
        assert!(
            out.contains("compile_error"),
            "expected an error, got {out}"
        );
        out
    }

    #[test]
    fn missing_kind_names_the_step_and_the_fix() {
        let out = expands_to_error(
            quote!(),
            quote!(
                async fn charge(x: &u8) -> Result<u8, E> {
                    Ok(*x)
                }
            ),
        );
        assert!(out.contains("step `charge` has no compensation"), "{out}");
        assert!(
            out.contains("fn charge"),
            "the function is still emitted: {out}"
        );
    }

    #[test]
    fn all_option_errors_are_reported_together() {
        let out = expands_to_error(
            quote!(pivot, pivot, retriable, bogus, timeout_seconds = 0),
            quote!(
                async fn charge(x: &u8) -> Result<u8, E> {
                    Ok(*x)
                }
            ),
        );
        for needle in ["duplicate", "both", "unknown", "timeout_seconds"] {
            assert!(out.contains(needle), "missing {needle}: {out}");
        }
    }

    #[test]
    fn odd_token_streams_give_errors_not_panics() {
        let items = [
            quote!(),
            quote!(
                struct S;
            ),
            quote!(fn),
            quote!(async fn f),
            quote!(async fn f() -> u8),
            quote!(
                async fn f(self) -> Result<u8, E> {}
            ),
            quote!(
                async fn f<T>(t: T) -> Result<u8, E> {}
            ),
            quote!(
                async fn f((a, b): (u8, u8)) -> Result<u8, E> {}
            ),
            quote!(
                async fn f(a: &'x u8) -> Result<u8, E> {}
            ),
            quote!(
                async fn f(a: impl Send) -> Result<u8, E> {}
            ),
            quote!(
                fn f(a: u8) -> Result<u8, E> {}
            ),
            quote!(
                async fn f(a: u8) {}
            ),
            quote!(
                async fn f(saga: u8) -> Result<u8, E>;
            ),
        ];
        let args = [
            quote!(),
            quote!(pivot),
            quote!(compensate),
            quote!(compensate = ),
            quote!(compensate = 1 + 2),
            quote!(retry(max_attempts = -1)),
            quote!(retry(
                backoff_rate = 0.5,
                jitter = sometimes,
                interval_seconds = "x"
            )),
            quote!(retry = 3),
            quote!(pivot(1)),
            quote!(, ,),
            quote!(timeout_seconds = 99999999999999999999),
        ];
        for item in &items {
            for a in &args {
                let out = expand(a.clone(), item.clone()).to_string();
                // Every item above is invalid, and so is every argument list
                // but `pivot`: each pair must produce a compile error.
                assert!(
                    out.contains("compile_error"),
                    "no error for {a} on {item}: {out}"
                );
            }
        }
        // The valid pair expands cleanly.
        for valid in [
            quote!(
                async fn f(a: &u8) -> Result<u8, E> {
                    Ok(*a)
                }
            ),
            quote!(
                async fn f(a: u8) -> Result<u8, E>;
            ),
        ] {
            let ok = expand(quote!(pivot), valid);
            assert!(!ok.to_string().contains("compile_error"));
        }
    }
}
