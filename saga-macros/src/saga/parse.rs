//! Parsing: `[attrs] [vis] saga Name(input: Type) [-> Output] { statements }`, repeated.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Block, Ident, PatType, ReturnType, Stmt, Token, Visibility, braced, parenthesized,
};

syn::custom_keyword!(saga);

/// The sagas of one `saga!` call.
pub struct SagaList(pub Vec<SagaSyntax>);

/// One saga as written.
pub struct SagaSyntax {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub params: Punctuated<PatType, Token![,]>,
    pub output: ReturnType,
    pub body: Vec<Stmt>,
    pub brace: proc_macro2::Span,
}

impl Parse for SagaList {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut sagas = Vec::new();
        while !input.is_empty() {
            sagas.push(input.parse()?);
        }
        if sagas.is_empty() {
            return Err(input.error(
                "expected a saga: `pub saga Name(input: Type) -> Output { let a = step(&input); ... }`",
            ));
        }
        Ok(SagaList(sagas))
    }
}

impl Parse for SagaSyntax {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input
            .parse::<saga>()
            .map_err(|e| syn::Error::new(e.span(), "expected `saga Name(input: Type) { ... }`"))?;
        let name = input.parse()?;
        let content;
        parenthesized!(content in input);
        let params = content.parse_terminated(
            |p: ParseStream| {
                let pat = syn::Pat::parse_single(p)?;
                let colon = p.parse()?;
                let ty = p.parse()?;
                Ok(PatType {
                    attrs: Vec::new(),
                    pat: Box::new(pat),
                    colon_token: colon,
                    ty,
                })
            },
            Token![,],
        )?;
        let output = input.parse()?;
        let body;
        let brace = braced!(body in input);
        let stmts = body.call(Block::parse_within)?;
        Ok(SagaSyntax {
            attrs,
            vis,
            name,
            params,
            output,
            body: stmts,
            brace: brace.span.join(),
        })
    }
}

/// The name after each top-level `saga` keyword, for input that does not
/// parse: enough to declare the saga types next to the error.
pub fn saga_names(input: proc_macro2::TokenStream) -> Vec<Ident> {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    tokens
        .windows(2)
        .filter_map(|pair| match pair {
            [TokenTree::Ident(keyword), TokenTree::Ident(name)] if keyword == "saga" => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}
