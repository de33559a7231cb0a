//! Code generation: the saga type, its state type, and an implementation of
//! `saga_core::Saga` that dispatches to each step with typed arguments.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{Saga, Source};
use super::parse::SagaSyntax;

/// For a saga whose definition has errors: the saga type, and when its input
/// parses, a `Saga` implementation that never runs (the build fails anyway),
/// so that code calling `Name::run` is not flooded with secondary errors.
pub fn fallback(syntax: &SagaSyntax) -> TokenStream {
    let SagaSyntax {
        attrs, vis, name, ..
    } = syntax;
    let name_str = name.to_string();
    let output = match &syntax.output {
        syn::ReturnType::Type(_, ty) => quote!(#ty),
        syn::ReturnType::Default => quote!(()),
    };
    let imp = (syntax.params.len() == 1).then(|| {
        let input = &syntax.params[0].ty;
        quote! {
            #[allow(clippy::all, unreachable_code)]
            const _: () = {
                impl ::saga_core::Saga for #name {
                    type Input = #input;
                    type Output = #output;
                    type State = ();
                    fn definition() -> &'static ::saga_core::SagaDefinition {
                        static DEFINITION: ::saga_core::SagaDefinition =
                            ::saga_core::SagaDefinition::new(#name_str, "", &[]);
                        &DEFINITION
                    }
                    fn start(_: Self::Input) -> Self::State {}
                    fn dispatch<'__saga>(
                        _: &'__saga Self::State,
                        __saga_step: usize,
                        _: ::saga_core::Op,
                        _: ::saga_core::invoke::Route<'__saga>,
                    ) -> ::core::result::Result<::saga_core::Invocation<'__saga>, ::saga_core::StateError> {
                        ::core::result::Result::Err(::saga_core::StateError::NoSuchStep(__saga_step))
                    }
                    fn store(
                        _: &mut Self::State,
                        __saga_step: usize,
                        _: ::saga_core::Stored,
                    ) -> ::core::result::Result<(), ::saga_core::StateError> {
                        ::core::result::Result::Err(::saga_core::StateError::NoSuchStep(__saga_step))
                    }
                    fn finish(_: Self::State) -> ::core::result::Result<Self::Output, ::saga_core::StateError> {
                        ::core::unreachable!("saga `{}` failed to compile", #name_str)
                    }
                }
            };
        }
    });
    quote!(#(#attrs)* #vis struct #name; #imp)
}

pub fn saga(saga: &Saga) -> TokenStream {
    let Saga {
        attrs,
        vis,
        name,
        input,
        input_ty,
        ..
    } = saga;
    let state = format_ident!("{}State", name);
    let name_str = name.to_string();
    let input_str = input.to_string();
    let output = saga
        .output
        .clone()
        .map_or_else(|| quote!(()), |t| quote!(#t));
    let paths: Vec<_> = saga.steps.iter().map(|s| &s.path).collect();
    let fields: Vec<_> = saga.steps.iter().map(|s| &s.name).collect();
    let field_strs: Vec<_> = fields.iter().map(|f| f.to_string()).collect();
    let index: Vec<_> = (0..saga.steps.len()).collect();

    // Compile-time checks, each spanned on the user's step.
    let checks = saga.steps.iter().enumerate().map(|(i, step)| {
        let path = &step.path;
        let order = i.checked_sub(1).map(|p| {
            let prev = &saga.steps[p].path;
            let check = if saga.groups.iter().any(|&(s, e)| s <= p && i < e) {
                quote!(branch_beside)
            } else {
                quote!(runs_after)
            };
            quote_spanned!(path.span()=> const _: () = ::saga_core::__private::#check::<#prev, #path>();)
        });
        let annotated = step.ty.as_ref().map(|ty| {
            quote_spanned!(ty.span()=> const _: fn(<#path as ::saga_core::Step>::Output) -> #ty = |__saga_v| __saga_v;)
        });
        quote_spanned! {path.span()=>
            const _: () = ::saga_core::__private::is_step::<#path>();
            #order
            #annotated
        }
    });

    let sources = saga.steps.iter().map(|step| {
        step.args.iter().map(|a| match a.source {
            Source::Input => quote!(::saga_core::ArgSource::Input),
            Source::Step(j) => quote!(::saga_core::ArgSource::Step(#j)),
        })
    });
    let sources: Vec<_> = sources
        .zip(&saga.steps)
        .map(|(s, step)| {
            let named = step.binding.is_some();
            quote!(&[#(#s),*], #named)
        })
        .collect();

    // The arguments of each step, taken from the state and spanned on the user's
    // argument so that a type mismatch points into the saga body.
    let dispatch_args = saga.steps.iter().map(|step| {
        // Outputs of earlier steps are fetched first, so that a type mismatch
        // below is reported plainly at the user's argument.
        let fetch = step.args.iter().enumerate().filter_map(|(i, a)| match a.source {
            Source::Input => None,
            Source::Step(j) => {
                let (field, field_str) = (&fields[j], &field_strs[j]);
                let var = format_ident!("__saga_arg{}", i);
                Some(quote!(let #var = ::saga_core::__private::have(&__saga_state.#field, #field_str)?;))
            }
        });
        let args = step.args.iter().enumerate().map(|(i, a)| {
            // Located at the user's argument, resolved with this macro's hygiene.
            let span = Span::call_site().located_at(a.expr.span());
            let value = match a.source {
                Source::Input => quote_spanned!(span=> &__saga_state.#input),
                Source::Step(_) => {
                    let var = format_ident!("__saga_arg{}", i, span = span);
                    quote_spanned!(span=> #var)
                }
            };
            if a.by_ref {
                value
            } else {
                quote_spanned!(span=> ::core::clone::Clone::clone(#value))
            }
        });
        let span = Span::call_site().located_at(step.call.span());
        let tuple = quote_spanned!(span=> (#(#args,)*));
        (quote!(#(#fetch)*), tuple)
    });
    let (fetches, tuples): (Vec<_>, Vec<_>) = dispatch_args.unzip();
    let bind_results = saga.steps.iter().map(|s| match &s.binding {
        Some(b) => quote!(#b),
        None => quote!(_),
    });
    let take_results = saga.steps.iter().zip(&field_strs).filter_map(|(s, f)| {
        let b = s.binding.as_ref()?;
        Some(quote!(let #b = ::saga_core::__private::take(#b, #f)?;))
    });
    let groups = (!saga.groups.is_empty()).then(|| {
        let (starts, ends): (Vec<_>, Vec<_>) = saga.groups.iter().copied().unzip();
        quote!(.parallel(&[#(::saga_core::Group { start: #starts, end: #ends },)*]))
    });
    let result = saga
        .result
        .as_ref()
        .map_or_else(|| quote!(()), |r| quote!(#r));
    let state_doc = format!(
        "The state of saga [`{name}`]: its input and the output of each step that has run."
    );
    let ser = quote!(::saga_core::__private::serde);
    let ok = quote!(::core::result::Result::Ok);
    let err = quote!(::core::result::Result::Err);
    let serde_crate = "::saga_core::__private::serde";

    quote! {
        #(#attrs)*
        #vis struct #name;

        #[doc = #state_doc]
        #[derive(#ser::Serialize, #ser::Deserialize)]
        #[serde(crate = #serde_crate)]
        #vis struct #state {
            #input: #input_ty,
            #(#fields: ::core::option::Option<<#paths as ::saga_core::Step>::Output>,)*
        }

        #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
        const _: () = {
            #(#checks)*

            impl ::saga_core::Saga for #name {
                type Input = #input_ty;
                type Output = #output;
                type State = #state;

                fn definition() -> &'static ::saga_core::SagaDefinition {
                    static DEFINITION: ::saga_core::SagaDefinition = ::saga_core::SagaDefinition::new(
                        #name_str,
                        #input_str,
                        &[#(::saga_core::StepDef::of::<#paths>(#sources),)*],
                    )#groups;
                    &DEFINITION
                }

                fn start(__saga_input: Self::Input) -> Self::State {
                    #state { #input: __saga_input, #(#fields: ::core::option::Option::None,)* }
                }

                fn dispatch<'__saga>(
                    __saga_state: &'__saga Self::State,
                    __saga_step: usize,
                    __saga_op: ::saga_core::Op,
                    __saga_route: ::saga_core::invoke::Route<'__saga>,
                ) -> ::core::result::Result<::saga_core::Invocation<'__saga>, ::saga_core::StateError> {
                    match __saga_step {
                        #(#index => {
                            #fetches
                            ::saga_core::__private::dispatch::<#paths>(__saga_op, #tuples, &__saga_state.#fields, __saga_route)
                        })*
                        _ => #err(::saga_core::StateError::NoSuchStep(__saga_step)),
                    }
                }

                fn store(
                    __saga_state: &mut Self::State,
                    __saga_step: usize,
                    __saga_value: ::saga_core::Stored,
                ) -> ::core::result::Result<(), ::saga_core::StateError> {
                    match __saga_step {
                        #(#index => ::saga_core::__private::store(&mut __saga_state.#fields, #field_strs, __saga_value),)*
                        _ => #err(::saga_core::StateError::NoSuchStep(__saga_step)),
                    }
                }

                #[allow(unused_variables, non_shorthand_field_patterns)]
                fn finish(__saga_state: Self::State) -> ::core::result::Result<Self::Output, ::saga_core::StateError> {
                    let #state { #input, #(#fields: #bind_results,)* } = __saga_state;
                    #(#take_results)*
                    #ok(#result)
                }
            }
        };
    }
}
