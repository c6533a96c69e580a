//! The OIDC ID token Pub/Sub puts in `Authorization: Bearer …` of every authenticated push
//! (<https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions>).
//!
//! Rules, each with the attack it stops:
//!
//! - `alg` must be `RS256`, the only algorithm Google signs these tokens with. `none`, `HS256`
//!   (an HMAC keyed with the *public* key) and any other label are refused before a key is
//!   looked at, which stops algorithm confusion.
//! - `kid` is required and names the key (as google-auth-library-java and -nodejs require;
//!   trying every key would let one token probe the whole set).
//! - `iss` is `accounts.google.com` or `https://accounts.google.com` (google-auth-library-python's
//!   `_GOOGLE_ISSUERS`); any Google-signed token for another issuer is not a push token.
//! - `aud` is a single string equal to the configured push audience: a token Google minted for
//!   someone else's endpoint cannot be replayed here.
//! - `email` equals the configured push service account and `email_verified` is JSON `true`, as
//!   the Pub/Sub docs tell receivers to check: any Google account can get a Google-signed token
//!   for any audience, only the service account ties it to *your* subscription.
//! - `exp` and `iat` are required; `nbf` is honoured when present; all with the configured leeway
//!   (default 60 s), compared as google-auth-library-python does (`now == exp + leeway` is
//!   still valid).

use http::HeaderMap;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::kernel::encoding::b64url_decode;
use crate::kernel::jose::{self, CompactJws, JoseError, JwsRules, ProtectedHeader};
use crate::rejection::{Rejection, RejectionKind};

/// The issuers Google's ID tokens carry.
pub(crate) const GOOGLE_ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

/// The bearer token of the `Authorization` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or_else(|| {
        Rejection::unauthenticated("no Authorization header (push authentication off?)")
    })?;
    if values.next().is_some() {
        return Err(Rejection::unauthenticated(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Rejection::unauthenticated("Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    // RFC 7235 §2.1: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::unauthenticated(
            "Authorization is not a Bearer token",
        ));
    }
    let token = token.trim_matches(' ');
    if token.is_empty() {
        return Err(Rejection::unauthenticated("empty Bearer token"));
    }
    Ok(token)
}

/// The largest protected header accepted, in base64url characters as sent. Google's is
/// about 100 (`alg`, `kid`, `typ`); the cap leaves room for fields Google may add and stops a
/// token that is mostly header from being decoded and parsed on every request.
pub(crate) const MAX_HEADER_LEN: usize = 4 * 1024;

/// What a push token must be.
const RULES: JwsRules = JwsRules {
    alg: "RS256",
    max_header_len: MAX_HEADER_LEN,
};

/// Every broken JWS rule of a bearer token is a failed authentication (401).
fn rejection(e: JoseError) -> Rejection {
    Rejection::unauthenticated(format!("the Bearer token: {e}"))
}

/// The protected header fields a push token uses.
#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<IgnoredAny>,
}

impl ProtectedHeader for Header {
    fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    fn has_crit(&self) -> bool {
        self.crit.is_some()
    }
}

/// A compact JWS split and decoded, its signature not yet checked.
pub(crate) struct UnverifiedToken<'a> {
    /// `base64url(header) "." base64url(claims)`: what the signature covers.
    pub(crate) signing_input: &'a str,
    claims_b64: &'a str,
    pub(crate) signature: Vec<u8>,
    pub(crate) kid: String,
}

impl<'a> UnverifiedToken<'a> {
    /// Splits the token and checks its header with the shared JWS rules (`alg` RS256, no
    /// `crit`), then requires a `kid`.
    pub(crate) fn parse(token: &'a str) -> Result<Self, Rejection> {
        let jws = CompactJws::split(token).map_err(rejection)?;
        let header = jws.decode_header(&RULES).map_err(rejection)?;
        let header: Header = jose::parse_header(&header, &RULES).map_err(rejection)?;
        let kid = header
            .kid
            .ok_or_else(|| Rejection::unauthenticated("the JWT header has no kid"))?;
        let signature = jws.decode_signature().map_err(rejection)?;
        Ok(UnverifiedToken {
            signing_input: jws.signing_input,
            claims_b64: jws.payload,
            signature,
            kid,
        })
    }

    /// The claims, to be read only after the signature checked out.
    pub(crate) fn claims_b64(&self) -> &'a str {
        self.claims_b64
    }
}

/// What the claims must say.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub(crate) audience: String,
    pub(crate) service_account: String,
    pub(crate) leeway_s: i64,
}

/// The verified claims a push token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushToken {
    /// `email`: the push subscription's service account.
    pub email: String,
    /// `sub`: the service account's unique id, if sent.
    pub subject: Option<String>,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

/// Checks the signed claims against `expect` at `now` (Unix seconds).
pub(crate) fn check_claims(
    claims_b64: &str,
    expect: &Expectations,
    now: i64,
) -> Result<PushToken, Rejection> {
    let bad = |why: &'static str| Rejection::unauthenticated(why);
    let claims =
        b64url_decode(claims_b64).ok_or_else(|| bad("the JWT claims are not base64url"))?;

    #[derive(Deserialize)]
    struct Claims {
        iss: Option<String>,
        aud: Option<serde_json::Value>,
        email: Option<String>,
        email_verified: Option<serde_json::Value>,
        sub: Option<String>,
        exp: Option<serde_json::Number>,
        iat: Option<serde_json::Number>,
        nbf: Option<serde_json::Number>,
    }
    let claims: Claims =
        serde_json::from_slice(&claims).map_err(|_| bad("the JWT claims are not valid JSON"))?;

    if !claims
        .iss
        .as_deref()
        .is_some_and(|iss| GOOGLE_ISSUERS.contains(&iss))
    {
        return Err(bad("the token's issuer is not accounts.google.com"));
    }
    // A list is refused even when it contains the audience (google-auth-library-python
    // compares with `in [audience]`): push tokens carry exactly one audience.
    match &claims.aud {
        Some(serde_json::Value::String(aud)) if *aud == expect.audience => {}
        Some(serde_json::Value::String(_)) => {
            return Err(bad(
                "the token's audience is not this endpoint's push audience",
            ));
        }
        _ => return Err(bad("the token's aud is not a single string")),
    }
    if claims.email.as_deref() != Some(expect.service_account.as_str()) {
        return Err(bad(
            "the token's email is not the configured push service account",
        ));
    }
    if claims.email_verified != Some(serde_json::Value::Bool(true)) {
        return Err(bad("the token's email_verified is not true"));
    }
    let exp = claims
        .exp
        .as_ref()
        .and_then(numeric_date)
        .ok_or_else(|| bad("the token has no numeric exp"))?;
    let iat = claims
        .iat
        .as_ref()
        .and_then(numeric_date)
        .ok_or_else(|| bad("the token has no numeric iat"))?;
    let nbf = match &claims.nbf {
        Some(n) => Some(numeric_date(n).ok_or_else(|| bad("the token's nbf is not numeric"))?),
        None => None,
    };
    let (now, leeway) = (i128::from(now), i128::from(expect.leeway_s));
    if now > i128::from(exp) + leeway {
        return Err(Rejection::new(
            RejectionKind::Expired,
            format!("the token expired {} s ago", now - i128::from(exp)),
        ));
    }
    for (name, t) in [("iat", Some(iat)), ("nbf", nbf)] {
        if let Some(t) = t {
            if i128::from(t) - leeway > now {
                return Err(Rejection::new(
                    RejectionKind::NotYetValid,
                    format!(
                        "the token's {name} is {} s in the future",
                        i128::from(t) - now
                    ),
                ));
            }
        }
    }
    Ok(PushToken {
        email: claims.email.unwrap_or_default(),
        subject: claims.sub,
        issued_at: iat,
        expires_at: exp,
    })
}

/// RFC 7519 NumericDate: seconds, possibly fractional (truncated towards the past).
fn numeric_date(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e17)
            // In range by the filter above; `as` saturates anyway.
            .map(|f| f.floor() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("value"),
        );
        h
    }

    fn b64(v: serde_json::Value) -> String {
        crate::kernel::encoding::b64url_encode(v.to_string().as_bytes())
    }

    fn expect() -> Expectations {
        Expectations {
            audience: "https://example.com/push".into(),
            service_account: "push@p.iam.gserviceaccount.com".into(),
            leeway_s: 60,
        }
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://accounts.google.com",
            "aud": "https://example.com/push",
            "email": "push@p.iam.gserviceaccount.com",
            "email_verified": true,
            "iat": 1000,
            "exp": 4600,
        })
    }

    fn check(c: serde_json::Value, now: i64) -> Result<PushToken, RejectionKind> {
        check_claims(&b64(c), &expect(), now).map_err(|r| r.kind())
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers("Bearer abc")).expect("ok"), "abc");
        assert_eq!(bearer_token(&headers("bearer abc")).expect("ok"), "abc");
        assert_eq!(bearer_token(&headers("BEARER  abc ")).expect("ok"), "abc");
    }

    #[test]
    fn a_missing_or_non_bearer_authorization_is_unauthenticated() {
        for h in ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer", "Token abc"] {
            let r = bearer_token(&headers(h)).expect_err(h);
            assert_eq!(r.kind(), RejectionKind::Unauthenticated, "{h}");
        }
        let r = bearer_token(&HeaderMap::new()).expect_err("none");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        let mut two = headers("Bearer a");
        two.append(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer b"),
        );
        assert!(bearer_token(&two).is_err());
    }

    #[test]
    fn only_rs256_is_accepted() {
        for alg in ["none", "HS256", "RS512", "ES256", "PS256", "rs256"] {
            let token = format!(
                "{}.{}.c2ln",
                b64(serde_json::json!({"alg": alg, "kid": "k"})),
                b64(claims())
            );
            assert!(UnverifiedToken::parse(&token).is_err(), "{alg}");
        }
        let token = format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "RS256", "kid": "k"})),
            b64(claims())
        );
        assert_eq!(UnverifiedToken::parse(&token).expect("rs256").kid, "k");
    }

    #[test]
    fn a_kid_is_required() {
        let token = format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "RS256"})),
            b64(claims())
        );
        assert!(UnverifiedToken::parse(&token).is_err());
    }

    #[test]
    fn critical_header_extensions_are_refused() {
        let h = serde_json::json!({"alg": "RS256", "kid": "k", "crit": ["exp"]});
        assert!(UnverifiedToken::parse(&format!("{}.{}.c2ln", b64(h), b64(claims()))).is_err());
    }

    #[test]
    fn the_header_is_capped_before_it_is_decoded() {
        let h = serde_json::json!({"alg": "RS256", "kid": "k".repeat(MAX_HEADER_LEN)});
        let r = UnverifiedToken::parse(&format!("{}.{}.c2ln", b64(h), b64(claims())))
            .err()
            .expect("too large");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert!(r.to_string().contains("larger than"), "{r}");
    }

    #[test]
    fn a_token_has_exactly_three_base64url_parts() {
        for t in [
            "not-a-jwt",
            "a.b",
            "a.b.c.d",
            "e30.e30.c2ln=",
            "!!.e30.c2ln",
        ] {
            assert!(UnverifiedToken::parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn the_issuer_is_accounts_google_com_with_or_without_https() {
        for iss in GOOGLE_ISSUERS {
            let mut c = claims();
            c["iss"] = iss.into();
            assert!(check(c, 1000).is_ok(), "{iss}");
        }
        for iss in ["http://accounts.google.com", "https://evil.example", ""] {
            let mut c = claims();
            c["iss"] = iss.into();
            assert_eq!(check(c, 1000).err(), Some(RejectionKind::Unauthenticated));
        }
    }

    #[test]
    fn the_audience_is_one_string_equal_to_the_configured_one() {
        let mut c = claims();
        c["aud"] = "https://example.com/other".into();
        assert!(check(c, 1000).is_err());
        let mut c = claims();
        c["aud"] = serde_json::json!(["https://example.com/push"]);
        assert!(check(c, 1000).is_err());
    }

    #[test]
    fn the_email_is_the_service_account_and_verified() {
        let mut c = claims();
        c["email"] = "someone@gmail.com".into();
        assert!(check(c, 1000).is_err());
        for v in [
            serde_json::json!(false),
            serde_json::json!("true"),
            serde_json::Value::Null,
        ] {
            let mut c = claims();
            c["email_verified"] = v;
            assert!(check(c, 1000).is_err());
        }
        let mut c = claims();
        c.as_object_mut().expect("object").remove("email_verified");
        assert!(check(c, 1000).is_err());
    }

    #[test]
    fn exp_and_iat_allow_the_leeway_and_no_more() {
        assert!(
            check(claims(), 4600 + 60).is_ok(),
            "now == exp + leeway is valid"
        );
        assert_eq!(
            check(claims(), 4600 + 61).err(),
            Some(RejectionKind::Expired)
        );
        assert!(
            check(claims(), 1000 - 60).is_ok(),
            "iat - leeway == now is valid"
        );
        assert_eq!(
            check(claims(), 1000 - 61).err(),
            Some(RejectionKind::NotYetValid)
        );
        let mut c = claims();
        c["nbf"] = 2000.into();
        assert_eq!(check(c, 1500).err(), Some(RejectionKind::NotYetValid));
    }

    #[test]
    fn exp_and_iat_are_required_numbers() {
        for field in ["exp", "iat"] {
            let mut c = claims();
            c.as_object_mut().expect("object").remove(field);
            assert_eq!(
                check(c, 1000).err(),
                Some(RejectionKind::Unauthenticated),
                "{field}"
            );
            let mut c = claims();
            c[field] = "4600".into();
            assert_eq!(
                check(c, 1000).err(),
                Some(RejectionKind::Unauthenticated),
                "{field}"
            );
        }
        let mut c = claims();
        c["exp"] = serde_json::json!(4600.9);
        assert_eq!(check(c, 4660).expect("fractional").expires_at, 4600);
    }
}
