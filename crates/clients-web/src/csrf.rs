//! Cross-site request forgery protection for every form.
//!
//! Two independent checks run on every POST:
//! - **Token.** Each form carries `csrf = base64url(HMAC-SHA256(key = binding secret,
//!   "clients-web/csrf/v1"))`. The binding secret is the session cookie's token when
//!   signed in, otherwise the random anonymous cookie. Both cookies are `HttpOnly`, so
//!   another site can neither read them nor compute the token; the token changes with
//!   every session, needs no server-side state, and reveals nothing about the session
//!   token (a keyed PRF, distinct from the SHA-256 hash kept in storage).
//! - **Origin.** A browser's `Origin` (or, without one, `Referer`) must be the public
//!   URL's origin or the request's own `Host`; `null` and other origins are refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

const LABEL: &[u8] = b"clients-web/csrf/v1";

/// The CSRF token of forms shown to the holder of `binding_secret`.
#[must_use]
pub fn token(binding_secret: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(binding_secret.as_bytes()) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return String::new();
    };
    mac.update(LABEL);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the token for `binding_secret` (constant time).
#[must_use]
pub fn verify(binding_secret: &str, presented: &str) -> bool {
    let expected = token(binding_secret);
    !binding_secret.is_empty() && !presented.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// `scheme://host[:port]` of a URL, lower-cased, without path.
#[must_use]
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let mut authority = authority.to_ascii_lowercase();
    // Default ports are not part of a serialised origin.
    for (s, port) in [("http", ":80"), ("https", ":443")] {
        if scheme == s && authority.ends_with(port) {
            authority.truncate(authority.len() - port.len());
        }
    }
    Some(format!("{scheme}://{authority}"))
}

/// Whether a POST's `Origin`/`Referer` headers allow it. `public_origin` is the
/// configured public URL's origin; `host` the request's `Host` header.
#[must_use]
pub fn origin_allowed(public_origin: &str, host: Option<&str>, origin: Option<&str>, referer: Option<&str>) -> bool {
    let claimed = match (origin, referer) {
        (Some(o), _) => match origin_of(o) {
            Some(o) => o,
            None => return false, // "null" (sandboxed frames, some redirects) or garbage
        },
        (None, Some(r)) => match origin_of(r) {
            Some(o) => o,
            None => return false,
        },
        // Neither header (privacy tools strip them): the token alone decides.
        (None, None) => return true,
    };
    if claimed == public_origin {
        return true;
    }
    let Some(host) = host.map(str::to_ascii_lowercase) else { return false };
    let authority = claimed.split_once("://").map_or("", |(_, a)| a);
    authority == host
        || ["http", "https"].iter().filter_map(|s| origin_of(&format!("{s}://{host}"))).any(|o| o == claimed)
}

/// A local path to go to after a form (`next`), or `None` for anything that could
/// leave the site (`//evil`, `https://…`, `/\evil`).
#[must_use]
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_stable_per_secret_and_differs_between_secrets() {
        assert_eq!(token("session-a"), token("session-a"));
        assert_ne!(token("session-a"), token("session-b"));
        assert_eq!(token("x").len(), 43, "256 bits, base64url without padding");
    }

    #[test]
    fn the_token_is_hmac_sha256_of_the_label_keyed_by_the_secret() {
        // RFC 2104 HMAC computed independently (Python: hmac.new(b"key", b"clients-web/csrf/v1", sha256)).
        assert_eq!(token("key"), "lddE3p9HybkU1RFzL7I-GX7hMaSFnfEoRbsaFsgq_Lw");
    }

    #[test]
    fn verify_accepts_only_the_matching_token() {
        let t = token("session-a");
        assert!(verify("session-a", &t));
        assert!(!verify("session-b", &t));
        assert!(!verify("session-a", ""));
        assert!(!verify("session-a", &t[..42]));
        assert!(!verify("", &token("")));
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(origin_of("https://Clients.Example.com/path?q=1").as_deref(), Some("https://clients.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(origin_of("https://x.test:443/").as_deref(), Some("https://x.test"));
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("https://user@x.test"), None);
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_posts_fail() {
        let public = "https://clients.example.com";
        assert!(origin_allowed(public, Some("clients.example.com"), Some("https://clients.example.com"), None));
        assert!(!origin_allowed(public, Some("clients.example.com"), Some("https://evil.example"), None));
        assert!(!origin_allowed(public, Some("clients.example.com"), Some("null"), None));
        // Referer stands in for a missing Origin.
        assert!(origin_allowed(public, None, None, Some("https://clients.example.com/clients?q=a")));
        assert!(!origin_allowed(public, None, None, Some("https://evil.example/clients.example.com")));
        // Neither header: left to the token.
        assert!(origin_allowed(public, Some("clients.example.com"), None, None));
    }

    #[test]
    fn the_requests_own_host_is_accepted_for_local_use() {
        let public = "http://127.0.0.1:8080";
        assert!(origin_allowed(public, Some("localhost:8080"), Some("http://localhost:8080"), None));
        assert!(!origin_allowed(public, Some("localhost:8080"), Some("http://localhost:9999"), None));
        assert!(!origin_allowed(public, None, Some("http://localhost:8080"), None));
    }

    #[test]
    fn next_paths_stay_on_the_site() {
        assert_eq!(local_path("/grant-access?token=abc"), Some("/grant-access?token=abc"));
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "", "/a\nb", "/a\\b"] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
