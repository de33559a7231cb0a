//! Parsing: the step function (with or without a body) and the raw options.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Block, Meta, Signature, Token, Visibility};

use crate::errors::Errors;

/// `async fn name(args) -> Ret { body }`, or the same with `;` instead of a body.
pub struct StepFn {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub body: Option<Block>,
}

impl Parse for StepFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            Some(input.parse()?)
        };
        Ok(StepFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// The options inside `#[saga_step(...)]`, as written.
pub fn parse_options(args: TokenStream, errors: &mut Errors) -> Vec<Meta> {
    match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(list) => list.into_iter().collect(),
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!(
                    "{e}; expected `compensate = path`, `pivot` or `retriable`, optionally with `retry(...)` and `timeout_seconds = N`"
                ),
            ));
            Vec::new()
        }
    }
}
