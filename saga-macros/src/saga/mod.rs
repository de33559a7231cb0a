//! `saga! { ... }`: parse → check → expand.

mod check;
mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

use crate::errors::Errors;

/// Expands the body of `saga! { ... }`.
pub fn expand(input: TokenStream) -> TokenStream {
    let sagas = match syn::parse2::<parse::SagaList>(input.clone()) {
        Ok(list) => list.0,
        Err(e) => {
            // The error, plus a type for every saga name still recognisable,
            // so that code naming the saga is not flooded with secondary errors.
            let e = e.to_compile_error();
            let names = parse::saga_names(input);
            return quote!(#e #(#[allow(dead_code)] pub struct #names;)*);
        }
    };
    let mut out = TokenStream::new();
    for syntax in &sagas {
        let mut errors = Errors::default();
        let saga = check::check(syntax, &mut errors);
        match saga {
            Some(saga) if errors.is_empty() => out.extend(expand::saga(&saga)),
            // Emit the saga type anyway so that code naming it is not flooded
            // with secondary errors.
            _ => {
                let compile_errors = errors.to_compile_errors();
                let fallback = expand::fallback(syntax);
                out.extend(quote!(#compile_errors #fallback));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(input: TokenStream) -> String {
        let out = expand(input).to_string();
        assert!(
            out.contains("compile_error"),
            "expected an error, got {out}"
        );
        out
    }

    #[test]
    fn dataflow_errors_are_reported_together() {
        let out = errors_of(quote! {
            pub saga S(x: u8) -> u8 {
                let a = one(&b);
                let b = two(&nope);
                let a = three(&x);
                let c = one(&x);
                a
            }
        });
        for needle in [
            "`b` is used before it is defined",
            "unknown name `nope`",
            "`a` is already defined",
            "step `one` is used twice",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in {out}");
        }
        assert!(
            out.contains("struct S"),
            "the saga type is still emitted: {out}"
        );
    }

    #[test]
    fn odd_token_streams_give_errors_not_panics() {
        let inputs = [
            quote!(),
            quote!(saga),
            quote!(pub saga),
            quote!(saga S),
            quote!(saga S()),
            quote!(saga S() {}),
            quote!(saga S(a: u8, b: u8) { let x = f(&a); }),
            quote!(saga S(a: u8) {}),
            quote!(saga S(a: u8) -> u8 { let x = f(&a); }),
            quote!(saga S(a: u8) { let x = 1 + 2; }),
            quote!(saga S(a: u8) { let (x, y) = f(&a); }),
            quote!(saga S(a: u8) { let x = f(&a, a.b, &&a, &mut a); }),
            quote!(saga S(a: u8) { let x = f::<u8>(&a); }),
            quote!(saga S(a: u8) { fn inner() {} }),
            quote!(saga S(a: u8) { let x = f(&a); return x; }),
            quote!(saga S(a: u8) { let x = f(&a) }),
            quote!(saga S((a, b): u8) { let x = f(&a); }),
            quote!(saga S(a: u8) { let a = f(&a); }),
            quote!(saga S(f: u8) { let x = f(&f); }),
            quote!(saga S(a: u8) { let x; }),
            quote!(
                fn f() {}
            ),
            quote!(saga S(a: u8) { let x = f(&a); } garbage),
            quote!(saga S(a: u8) { let (x, y) = join!(f(&a), g(&x)); }),
            quote!(saga S(a: u8) { let (x, y): (u8, u8) = join!(f(&a), g(&a)); }),
            quote!(saga S(a: u8) { let (x, y, z) = join!(f(&a), g(&a)); }),
            quote!(saga S(a: u8) { let x = join!(f(&a), g(&a)); }),
            quote!(saga S(a: u8) { join!(f(&a)); }),
            quote!(saga S(a: u8) { join!(); }),
            quote!(saga S(a: u8) { join!(f(&a) g(&a)); }),
            quote!(saga S(a: u8) { join!(f(&a), 1 + 2); }),
            quote!(saga S(a: u8) { let y = f(&a); join!(f(&a), g(&a)) }),
            quote!(saga S(a: u8) { let (x, y) = join!(f(&a), f(&a)); }),
        ];
        for input in inputs {
            let out = expand(input.clone()).to_string();
            assert!(out.contains("compile_error"), "no error for {input}: {out}");
        }
    }

    #[test]
    fn a_saga_that_does_not_parse_still_declares_its_type() {
        let out = expand(quote! {
            pub saga Pay(amount: u64) -> u64 {
                let paid = charge(&amount) +;
            }
            saga Refund(amount: u64) { }
        })
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("pub struct Pay ;"), "{out}");
        assert!(out.contains("pub struct Refund ;"), "{out}");
    }

    #[test]
    fn a_valid_saga_expands_to_a_saga_impl() {
        let out = expand(quote! {
            /// Docs.
            pub saga S(x: u8) -> u8 {
                let a = one(&x);
                two(&x, a);
                a
            }
        })
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("impl :: saga_core :: Saga for S"), "{out}");
        assert!(out.contains("struct SState"), "{out}");
    }
}
