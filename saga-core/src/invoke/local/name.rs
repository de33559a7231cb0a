//! Function names as the Invoke API accepts them: `name`, `name:qualifier`,
//! a partial ARN `ACCOUNT:function:NAME[:QUALIFIER]` or a full ARN
//! `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, possibly
//! percent-encoded in the request path. Every form resolves to the bare name,
//! which is how functions are registered locally.

use std::fmt;

/// A function reference from a request, resolved to its bare name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FunctionRef {
    /// The bare function name.
    pub(super) name: String,
    /// The version or alias, from the name or from `?Qualifier=`.
    pub(super) qualifier: Option<String>,
}

/// Why a function reference cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NameError(String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves a path segment (still percent-encoded) and the raw `Qualifier`
/// query value, if any.
pub(super) fn resolve(
    segment: &str,
    query_qualifier: Option<&str>,
) -> Result<FunctionRef, NameError> {
    let decoded = percent_decode(segment)?;
    let mut function = parse(&decoded)?;
    if let Some(raw) = query_qualifier {
        let qualifier = percent_decode(raw)?;
        check_qualifier(&qualifier)?;
        match &function.qualifier {
            // AWS refuses a name whose qualifier contradicts the query's.
            Some(own) if *own != qualifier => {
                return Err(NameError(format!(
                    "the qualifier `{own}` in the function name does not match the Qualifier `{qualifier}`"
                )));
            }
            _ => function.qualifier = Some(qualifier),
        }
    }
    Ok(function)
}

/// Parses a decoded function name in any of its forms.
pub(super) fn parse(full: &str) -> Result<FunctionRef, NameError> {
    let parts: Vec<&str> = full.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [
            "arn",
            _partition,
            service,
            _region,
            _account,
            resource,
            rest @ ..,
        ] => {
            if *service != "lambda" || *resource != "function" {
                return Err(NameError(format!("`{full}` is not a Lambda function ARN")));
            }
            name_and_qualifier(full, rest)?
        }
        // `name:function` is a name with the alias `function`, not a partial ARN.
        [_account, "function", rest @ ..] if !rest.is_empty() => name_and_qualifier(full, rest)?,
        _ => name_and_qualifier(full, &parts)?,
    };
    check_name(name)?;
    if let Some(q) = qualifier {
        check_qualifier(q)?;
    }
    Ok(FunctionRef {
        name: name.to_owned(),
        qualifier: qualifier.map(str::to_owned),
    })
}

fn name_and_qualifier<'a>(
    full: &str,
    rest: &[&'a str],
) -> Result<(&'a str, Option<&'a str>), NameError> {
    match rest {
        [name] => Ok((name, None)),
        [name, qualifier] => Ok((name, Some(qualifier))),
        _ => Err(NameError(format!(
            "`{full}` is not a function name, `name:qualifier` or ARN"
        ))),
    }
}

/// The characters and length AWS allows in a function name.
pub(super) fn check_name(name: &str) -> Result<(), NameError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(NameError(format!(
            "`{name}` is not a function name (1 to 64 letters, digits, `-` or `_`)"
        )));
    }
    Ok(())
}

fn check_qualifier(qualifier: &str) -> Result<(), NameError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$');
    if qualifier.is_empty() || qualifier.len() > 128 || !qualifier.chars().all(allowed) {
        return Err(NameError(format!(
            "`{qualifier}` is not a version or alias"
        )));
    }
    Ok(())
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits stays as is,
/// as most servers tolerate it; bytes that are not UTF-8 are refused.
pub(super) fn percent_decode(raw: &str) -> Result<String, NameError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| NameError(format!("`{raw}` does not decode to UTF-8")))
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The `Qualifier` value of a raw query string, still percent-encoded.
pub(super) fn query_qualifier(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("Qualifier="))
}

/// The ARN AWS names in its "Function not found" message.
pub(super) fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(segment: &str, query: Option<&str>) -> (String, Option<String>) {
        match resolve(segment, query) {
            Ok(f) => (f.name, f.qualifier),
            Err(e) => panic!("`{segment}` did not resolve: {e}"),
        }
    }

    #[test]
    fn every_form_resolves_to_the_bare_name() {
        let cases = [
            ("pay", None),
            ("pay:prod", Some("prod")),
            ("pay:$LATEST", Some("$LATEST")),
            ("arn:aws:lambda:us-east-1:123456789012:function:pay", None),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:pay:7",
                Some("7"),
            ),
            (
                "arn:aws-cn:lambda:cn-north-1:123456789012:function:pay",
                None,
            ),
            ("123456789012:function:pay", None),
            ("123456789012:function:pay:live", Some("live")),
            (
                "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Apay",
                None,
            ),
            (
                "arn%3aaws%3alambda%3aus-east-1%3a123456789012%3afunction%3apay%3a%24LATEST",
                Some("$LATEST"),
            ),
        ];
        for (segment, qualifier) in cases {
            assert_eq!(
                ok(segment, None),
                ("pay".to_owned(), qualifier.map(str::to_owned)),
                "{segment}"
            );
        }
    }

    #[test]
    fn query_qualifier_is_decoded_and_checked_against_the_name() {
        assert_eq!(
            ok("pay", Some("%24LATEST")),
            ("pay".to_owned(), Some("$LATEST".to_owned()))
        );
        assert_eq!(
            ok("pay:prod", Some("prod")),
            ("pay".to_owned(), Some("prod".to_owned()))
        );
        assert!(resolve("pay:prod", Some("dev")).is_err());
        assert!(resolve("pay", Some("")).is_err());
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            "pay:",
            "pay:a:b",
            "pay/x",
            "pay name",
            "arn:aws:s3:us-east-1:123456789012:function:pay",
            "arn:aws:lambda:us-east-1:123456789012:layer:pay",
            "arn:aws:lambda:us-east-1:123456789012:function",
            "arn:aws:lambda:us-east-1:123456789012:function:pay:1:2",
            "%FF",
        ] {
            assert!(resolve(bad, None).is_err(), "`{bad}` was accepted");
        }
        assert_eq!(
            ok("pay:function", None),
            ("pay".to_owned(), Some("function".to_owned()))
        );
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn percent_decoding_keeps_stray_percents() {
        assert_eq!(percent_decode("a%3Ab").as_deref(), Ok("a:b"));
        assert_eq!(percent_decode("100%").as_deref(), Ok("100%"));
        assert_eq!(percent_decode("%zz%4").as_deref(), Ok("%zz%4"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Ok("é"));
    }

    #[test]
    fn qualifier_is_found_among_other_parameters() {
        assert_eq!(query_qualifier(Some("a=1&Qualifier=prod")), Some("prod"));
        assert_eq!(query_qualifier(Some("qualifier=prod")), None);
        assert_eq!(query_qualifier(None), None);
    }
}
