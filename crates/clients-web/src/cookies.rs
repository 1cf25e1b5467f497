//! The UI's cookies: reading the `Cookie` header and writing `Set-Cookie` values with
//! the attributes every one of them carries (`HttpOnly`, `SameSite=Lax`, `Path=/`, and
//! `Secure` when the public URL is https).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The personal session: the bearer token from sign-in or sign-up.
pub const SESSION: &str = "clients_session";
/// The "Log in as" session, set while an agency acts inside a client account.
pub const ACTING: &str = "clients_acting";
/// A random value that binds the CSRF token of forms shown before signing in.
pub const ANONYMOUS: &str = "clients_anon";
/// A one-time message shown on the next page (base64url of UTF-8 text).
pub const FLASH: &str = "clients_flash";

/// The value of cookie `name` in a `Cookie` request header, if present and non-empty.
/// A name sent twice (a sign of cookie injection from a sibling domain) counts as absent.
#[must_use]
pub fn read<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    let mut found = None;
    for pair in header.split(';') {
        let Some((k, v)) = pair.trim().split_once('=') else { continue };
        if k.trim() == name {
            if found.is_some() {
                return None;
            }
            found = Some(v.trim().trim_matches('"'));
        }
    }
    found.filter(|v| !v.is_empty())
}

/// How cookies are written for this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// Adds `Secure` (the public URL is https).
    pub secure: bool,
}

impl CookiePolicy {
    /// The policy for a public URL: `Secure` exactly when it is https.
    #[must_use]
    pub fn for_public_url(public_url: &str) -> Self {
        Self { secure: public_url.trim().to_ascii_lowercase().starts_with("https://") }
    }

    /// A `Set-Cookie` value for `name=value` living `max_age_secs` seconds. Values are
    /// tokens we generate (URL-safe base64), never raw user text.
    #[must_use]
    pub fn set(&self, name: &str, value: &str, max_age_secs: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}", max_age_secs.max(0))
    }

    /// A `Set-Cookie` value that deletes `name`.
    #[must_use]
    pub fn clear(&self, name: &str) -> String {
        self.set(name, "", 0)
    }
}

/// Encodes a flash message for the [`FLASH`] cookie.
#[must_use]
pub fn encode_flash(kind: FlashKind, text: &str) -> String {
    let prefix = match kind {
        FlashKind::Notice => 'n',
        FlashKind::Error => 'e',
    };
    URL_SAFE_NO_PAD.encode(format!("{prefix}{text}"))
}

/// Decodes the [`FLASH`] cookie; anything malformed is dropped.
#[must_use]
pub fn decode_flash(value: &str) -> Option<(FlashKind, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut chars = text.chars();
    let kind = match chars.next()? {
        'n' => FlashKind::Notice,
        'e' => FlashKind::Error,
        _ => return None,
    };
    let message: String = chars.take(300).collect();
    (!message.is_empty()).then_some((kind, message))
}

/// Whether a flash message reports success or a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashKind {
    /// Something worked.
    Notice,
    /// Something did not.
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_among_others() {
        let header = "theme=dark; clients_session=abc-DEF_123; other=1";
        assert_eq!(read(header, SESSION), Some("abc-DEF_123"));
        assert_eq!(read(header, "theme"), Some("dark"));
        assert_eq!(read(header, ACTING), None);
    }

    #[test]
    fn a_cookie_name_is_matched_exactly_not_by_prefix() {
        assert_eq!(read("xclients_session=evil; clients_session_old=x", SESSION), None);
    }

    #[test]
    fn empty_and_duplicated_cookies_count_as_absent() {
        assert_eq!(read("clients_session=", SESSION), None);
        assert_eq!(read("clients_session=a; clients_session=b", SESSION), None);
        assert_eq!(read("", SESSION), None);
        assert_eq!(read("garbage;;=;", SESSION), None);
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_path_wide() {
        let c = CookiePolicy { secure: false }.set(SESSION, "tok", 3600);
        assert_eq!(c, "clients_session=tok; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn cookies_are_secure_exactly_when_the_public_url_is_https() {
        assert!(CookiePolicy::for_public_url("https://clients.example.com").secure);
        assert!(CookiePolicy::for_public_url("HTTPS://Clients.example.com/").secure);
        assert!(!CookiePolicy::for_public_url("http://127.0.0.1:8080").secure);
        let c = CookiePolicy::for_public_url("https://x.test").set(ACTING, "t", 60);
        assert!(c.ends_with("; HttpOnly; SameSite=Lax; Secure"), "{c}");
    }

    #[test]
    fn clearing_a_cookie_expires_it_now() {
        let c = CookiePolicy { secure: true }.clear(ACTING);
        assert_eq!(c, "clients_acting=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
    }

    #[test]
    fn negative_lifetimes_never_reach_the_header() {
        assert!(CookiePolicy { secure: false }.set(SESSION, "t", -5).contains("Max-Age=0;"));
    }

    #[test]
    fn flash_messages_round_trip_any_text_and_reject_tampering() {
        let v = encode_flash(FlashKind::Notice, "Invitation sent to <b>x@y.z</b>; \"quoted\" ü");
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{v}");
        assert_eq!(decode_flash(&v), Some((FlashKind::Notice, "Invitation sent to <b>x@y.z</b>; \"quoted\" ü".into())));
        assert_eq!(decode_flash(&encode_flash(FlashKind::Error, "no")), Some((FlashKind::Error, "no".into())));
        assert_eq!(decode_flash("!!!"), None);
        assert_eq!(decode_flash(&URL_SAFE_NO_PAD.encode("xhello")), None);
        assert_eq!(decode_flash(&URL_SAFE_NO_PAD.encode("n")), None);
    }
}
