//! The `pattern`s of request fields, each compiled once per process.
//!
//! poem-openapi's own `pattern` validator (5.1.16) runs `Regex::new` on every check
//! (`validation/pattern.rs`), so every request compiled the expression of each
//! patterned field it carried (the email of every new request and sign-up).
//! Fields use `#[oai(validator(custom = "&crate::patterns::EMAIL"))]` instead: the same
//! check, failing with the same message (`pattern("…")`), and [`crate::spec::refine`]
//! writes each pattern into the OpenAPI document where the framework would have
//! ([`IN_BODIES`], [`IN_PARAMETERS`]).

use std::fmt;
use std::sync::OnceLock;

use poem_openapi::validation::Validator;
use regex::Regex;

/// A regular expression compiled on first use.
#[derive(Debug)]
pub(crate) struct Pattern {
    source: &'static str,
    regex: OnceLock<Option<Regex>>,
}

impl Pattern {
    const fn new(source: &'static str) -> Self {
        Self { source, regex: OnceLock::new() }
    }

    /// The expression as the OpenAPI document states it.
    pub(crate) const fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `text` matches (never, should the expression not compile: the unit
    /// test below compiles every one).
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.regex.get_or_init(|| Regex::new(self.source).ok()).as_ref().is_some_and(|r| r.is_match(text))
    }
}

/// The framework's wording, so 422 details read as before.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern(\"{}\")", self.source)
    }
}

impl<T: AsRef<str>> Validator<T> for &Pattern {
    fn check(&self, value: &T) -> bool {
        self.is_match(value.as_ref())
    }
}

/// An email as the service accepts it (ASCII, dot-atom local part, a host name with a
/// letter-led top-level label), blanks around it allowed.
pub(crate) static EMAIL: Pattern = Pattern::new(
    r"^[ \t]*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?[ \t]*$",
);
/// A password: anything but NUL.
pub(crate) static PASSWORD: Pattern = Pattern::new(r"^[^\u0000]*$");
/// A display name: not blank, no control characters (C0, DEL, C1).
pub(crate) static NAME: Pattern =
    Pattern::new(r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$");
/// A host name (ASCII labels), blanks around it and a final dot allowed.
pub(crate) static DOMAIN: Pattern = Pattern::new(
    r"^[ \t]*([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?[ \t]*$",
);
/// Text without control characters (C0, DEL, C1).
pub(crate) static NO_CONTROLS: Pattern = Pattern::new(r"^[^\u0000-\u001F\u007F-\u009F]*$");
/// A search text without C0 controls or DEL.
pub(crate) static SEARCH: Pattern = Pattern::new(r"^[^\u0000-\u001F\u007F]*$");
/// An ISO 4217 code.
pub(crate) static CURRENCY: Pattern = Pattern::new(r"^[A-Z]{3}$");

/// (schema, property, pattern) of the request bodies' checked fields.
pub(crate) static IN_BODIES: &[(&str, &str, &Pattern)] = &[
    ("SignUpBody", "email", &EMAIL),
    ("SignUpBody", "password", &PASSWORD),
    ("SignUpBody", "name", &NAME),
    ("CreateSharedAccountBody", "email", &EMAIL),
    ("AddWebsiteBody", "domain", &DOMAIN),
    ("InvoiceBody", "number", &NO_CONTROLS),
    ("InvoiceBody", "currency", &CURRENCY),
];

/// (operation id, parameter, pattern) of the checked query parameters.
pub(crate) static IN_PARAMETERS: &[(&str, &str, &Pattern)] =
    &[("listSharedAccounts", "q", &SEARCH), ("sharedAccountWebsites", "q", &SEARCH), ("listWebsites", "q", &SEARCH)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_checks_what_it_says() {
        for (_, _, p) in IN_BODIES.iter().chain(IN_PARAMETERS) {
            assert!(Regex::new(p.source()).is_ok(), "{}", p.source());
        }
        assert!(EMAIL.is_match(" Client@Shop.example ") && !EMAIL.is_match("a@b") && !EMAIL.is_match("a@[1.2.3.4]"));
        assert!(NAME.is_match("Acme Ltd") && !NAME.is_match("   ") && !NAME.is_match("a\u{85}b"));
        assert!(SEARCH.is_match("shop 1") && !SEARCH.is_match("a\u{7f}"));
        assert!(DOMAIN.is_match("shop.example.com.") && !DOMAIN.is_match("-a.example"));
        assert!(CURRENCY.is_match("EUR") && !CURRENCY.is_match("eur"));
        assert!(PASSWORD.is_match("pass word") && !PASSWORD.is_match("a\0b"));
        assert_eq!(EMAIL.to_string(), format!("pattern(\"{}\")", EMAIL.source()));
    }
}
