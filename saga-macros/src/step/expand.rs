//! Code generation: the user's function, unchanged, plus a hidden type named
//! after it that implements `saga_core::Step`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{Kind, Step};
use super::parse::StepFn;

/// The user's function as written. A step declared without a body has no local function.
pub fn user_fn(func: &StepFn) -> TokenStream {
    let StepFn {
        attrs,
        vis,
        sig,
        body,
    } = func;
    match body {
        Some(body) => quote!(#(#attrs)* #vis #sig #body),
        None => TokenStream::new(),
    }
}

/// The hidden step type and its `Step` implementation.
pub fn step_glue(step: &Step) -> TokenStream {
    let Step { name, vis, ret, .. } = step;
    let name_str = name.to_string();
    let param_names = step.params.iter().map(|p| p.name.to_string());
    let arg_types = step.params.iter().map(|p| {
        let ty = &p.ty;
        quote_spanned!(p.span=> #ty)
    });
    // The owned form of each argument, and how to lend it back.
    let owned_types = step.params.iter().map(|p| match &p.ty {
        syn::Type::Reference(r) => {
            let elem = &r.elem;
            quote_spanned!(p.span=> <#elem as ::std::borrow::ToOwned>::Owned)
        }
        ty => quote_spanned!(p.span=> #ty),
    });
    let lend = step.params.iter().enumerate().map(|(i, p)| {
        let i = syn::Index::from(i);
        match &p.ty {
            syn::Type::Reference(_) => quote!(::core::borrow::Borrow::borrow(&__saga_owned.#i)),
            _ => quote!(::core::clone::Clone::clone(&__saga_owned.#i)),
        }
    });
    let args = |span: Span| -> Vec<Ident> {
        (0..step.params.len())
            .map(|i| format_ident!("__saga_arg{}", i, span = span))
            .collect()
    };
    let call_args = args(Span::call_site());
    let call = if step.has_body {
        quote! {
            let (#(#call_args,)*) = __saga_args;
            async move { ::saga_core::__private::step_result(#name(#(#call_args),*).await) }
        }
    } else {
        quote! {
            let _ = __saga_args;
            ::saga_core::__private::unbound(#name_str)
        }
    };
    let (kind, compensate) = match &step.kind {
        Kind::Compensate(path) => {
            // Errors point at the user's `compensate = path`, while names keep
            // this macro's hygiene (the path may come from a `macro_rules!`).
            let span = Span::call_site().located_at(path.span());
            let comp_args = args(span);
            let call = quote_spanned!(span=> #path(#(#comp_args,)* __saga_output));
            let body = quote_spanned! {span=>
                let (#(#comp_args,)*) = __saga_args;
                ::core::option::Option::Some(async move {
                    ::saga_core::__private::step_result(#call.await)
                })
            };
            (quote!(Compensatable), body)
        }
        Kind::Pivot | Kind::Retriable | Kind::Placeholder => {
            let kind = match step.kind {
                Kind::Pivot => quote!(Pivot),
                Kind::Retriable => quote!(Retriable),
                _ => quote!(Compensatable),
            };
            let body = quote! {
                let _ = (__saga_args, __saga_output);
                ::core::option::Option::None::<::saga_core::__private::NoCompensation>
            };
            (kind, body)
        }
    };
    // Which kinds this step may follow: the order rule, as trait impls.
    let follows: &[&str] = match step.kind {
        Kind::Compensate(_) | Kind::Pivot => &["Compensatable"],
        Kind::Retriable | Kind::Placeholder => &["Compensatable", "Pivot", "Retriable"],
    };
    let follows = follows.iter().map(|k| {
        let k = Ident::new(k, Span::call_site());
        quote!(impl ::saga_core::RunsAfter<::saga_core::kind::#k> for #name {})
    });
    let base = if matches!(step.kind, Kind::Retriable) {
        quote!(::saga_core::RetryPolicy::RETRIABLE)
    } else {
        quote!(::saga_core::RetryPolicy::DEFAULT)
    };
    let retry = match &step.retry {
        Some(r) => {
            let a = r.max_attempts.map(|a| quote!(max_attempts: #a,));
            let i = r.interval_seconds.map(|i| quote!(interval_seconds: #i,));
            let b = r.backoff_rate.map(|b| quote!(backoff_rate: #b,));
            let d = r
                .max_delay_seconds
                .map(|d| quote!(max_delay_seconds: ::core::option::Option::Some(#d),));
            let j = r.full_jitter.map(|full| {
                let j = if full { quote!(Full) } else { quote!(None) };
                quote!(jitter: ::saga_core::Jitter::#j,)
            });
            quote!(::saga_core::RetryPolicy { #a #i #b #d #j ..#base })
        }
        None => base,
    };
    let has_body = step.has_body;
    let timeout = step.timeout_seconds;
    let output = quote_spanned!(ret.span()=> <#ret as ::saga_core::StepReturn>::Output);
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
        const _: () = {
            impl ::saga_core::Step for #name {
                const NAME: &'static str = #name_str;
                const PARAMS: &'static [&'static str] = &[#(#param_names),*];
                const HAS_BODY: bool = #has_body;
                const RETRY: ::saga_core::RetryPolicy = #retry;
                const TIMEOUT_SECONDS: u32 = #timeout;
                type Kind = ::saga_core::kind::#kind;
                type Output = #output;
                type Args<'__saga> = (#(#arg_types,)*);
                type Owned = (#(#owned_types,)*);

                fn borrow(__saga_owned: &Self::Owned) -> Self::Args<'_> {
                    let _ = __saga_owned;
                    (#(#lend,)*)
                }

                fn call(
                    __saga_args: Self::Args<'_>,
                ) -> impl ::saga_core::__private::Future<
                    Output = ::core::result::Result<Self::Output, ::saga_core::StepError>,
                > + ::core::marker::Send {
                    #call
                }

                fn compensate(
                    __saga_args: Self::Args<'_>,
                    __saga_output: Self::Output,
                ) -> ::core::option::Option<
                    impl ::saga_core::__private::Future<
                        Output = ::core::result::Result<(), ::saga_core::StepError>,
                    > + ::core::marker::Send,
                > {
                    #compensate
                }
            }
            #(#follows)*
        };
    }
}
