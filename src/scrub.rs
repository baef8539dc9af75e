//! Scrubbing secrets out of text that came back from a platform (STYLE habit 7): an Alipay
//! `isv.invalid-signature` sub_msg carries the gateway's whole signing string
//! (`app_auth_token=…&app_id=…`), a WeChat errmsg or a transport error may carry a URL with
//! `access_token=…`. [`scrub`] runs where a platform's answer becomes a
//! [`PlatformError`](crate::platform::PlatformError), and again where stored history is read, so
//! nothing written by an older version prints a token either.
//!
//! Two rules, both conservative about what they keep:
//! * the value of a parameter whose name says it is secret (`app_auth_token`, `access_token`,
//!   `*_token`, `*_secret`, `*_ticket`, `*_key`, `sign`, `*_auth_code`, …) becomes `***`, in the
//!   `k=v&…`, query-string (also `%3D`-encoded), `k: v` and JSON (`"k":"v"`, also `\"`-escaped)
//!   shapes; a `code` is scrubbed when its value does not look like a platform code;
//! * any run of 32 or more base64 / base64url characters mixing upper case, lower case and digits
//!   (a signature, a key, a token standing alone) becomes `***`. Hex ids, fingerprints, trace ids
//!   and code names have no such mix and are kept.

use std::borrow::Cow;

/// What a scrubbed value is replaced with (as [`crate::secret::Secret`] prints).
pub const REDACTED: &str = "***";

/// Parameter names that are secret as they are (compared ASCII-case-insensitively).
const SECRET_NAMES: &[&str] = &[
    "token",
    "secret",
    "appsecret",
    "ticket",
    "sign",
    "signature",
    "password",
    "passwd",
    "auth_code",
    "authorization_code",
    "private_key",
    "credential",
];

/// Name endings that make a parameter secret: `app_auth_token`, `component_appsecret`,
/// `component_verify_ticket`, `encoding_aes_key`, `msg_signature`, `pre_auth_code`, …
const SECRET_SUFFIXES: &[&str] = &[
    "_token",
    "_secret",
    "appsecret",
    "_ticket",
    "_key",
    "_sign",
    "_signature",
    "_password",
    "_auth_code",
];

/// Shortest run of base64 characters scrubbed on its own.
const BLOB_MIN: usize = 32;

/// `text` with secret parameter values and long base64 blobs replaced by `***`.
pub fn scrub(text: &str) -> String {
    scrub_cow(text).into_owned()
}

/// Like [`scrub`], borrowing `text` when there is nothing to scrub.
pub fn scrub_cow(text: &str) -> Cow<'_, str> {
    let params = scrub_params(text);
    match scrub_blobs(&params) {
        Cow::Borrowed(_) => params,
        Cow::Owned(owned) => Cow::Owned(owned),
    }
}

/// Whether `name` (an identifier) names a secret parameter.
fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&lower.as_str()) || SECRET_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Whether a `code` value is a platform code or status (kept) rather than an authorization code:
/// digits (`10000`), upper-case names (`MINI_APP_INFO_AUDIT_CONTAINS`), dotted lower-case names
/// (`isv.invalid-signature`).
fn platform_code(value: &str) -> bool {
    let digits = value.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    let upper = value
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let dotted = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || matches!(b, b'.' | b'-' | b'_'));
    digits || upper || dotted
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where the value after `name` starts and how it is quoted, if `name` ends at `at` and is
/// followed by a separator (`=`, `%3D`, `:`), with quotes and blanks around it.
fn value_start(bytes: &[u8], mut at: usize) -> Option<(usize, Quote)> {
    let skip = |at: &mut usize, set: &[u8]| {
        while *at < bytes.len() && set.contains(&bytes[*at]) {
            *at += 1;
        }
    };
    skip(&mut at, b"\"'\\");
    skip(&mut at, b" \t");
    let rest = &bytes[at..];
    if rest.starts_with(b"=") || rest.starts_with(b":") {
        at += 1;
    } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%3d") {
        at += 3;
    } else {
        return None;
    }
    skip(&mut at, b" \t");
    let rest = &bytes[at..];
    let quote = match rest {
        [b'\\', b'"', ..] => Quote::Escaped,
        [b'"', ..] => Quote::Double,
        [b'\'', ..] => Quote::Single,
        _ => Quote::None,
    };
    Some((at + quote.len(), quote))
}

/// How a value is delimited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
    /// `\"…\"`, a JSON string inside a JSON string.
    Escaped,
}

impl Quote {
    fn len(self) -> usize {
        match self {
            Quote::None => 0,
            Quote::Double | Quote::Single => 1,
            Quote::Escaped => 2,
        }
    }
}

/// Where the value starting at `start` ends (exclusive).
fn value_end(bytes: &[u8], start: usize, quote: Quote) -> usize {
    let mut at = start;
    while at < bytes.len() {
        let b = bytes[at];
        let ends = match quote {
            Quote::Double => b == b'"' && bytes[at - 1] != b'\\',
            Quote::Single => b == b'\'',
            Quote::Escaped => b == b'\\' && bytes.get(at + 1) == Some(&b'"'),
            Quote::None => {
                b.is_ascii_whitespace()
                    || b"&,;\"'\\)]}<>|".contains(&b)
                    || (b == b'%' && bytes[at..].len() >= 3 && bytes[at + 1..at + 3] == *b"26")
            }
        };
        if ends {
            break;
        }
        at += 1;
    }
    at
}

/// Replaces the values of secret parameters.
fn scrub_params(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        // A name starts a word: not inside `isv.invalid-signature` or `aop.invalid-app-auth-token`.
        let inside = at > 0 && (ident_byte(bytes[at - 1]) || matches!(bytes[at - 1], b'.' | b'-'));
        if !ident_byte(bytes[at]) || inside {
            at += 1;
            continue;
        }
        let name_end = at + bytes[at..].iter().take_while(|b| ident_byte(**b)).count();
        // In a URL-encoded URL the name follows `%3F` (`?`) or `%26` (`&`): skip the two digits.
        let encoded = at > 0 && bytes[at - 1] == b'%' && name_end - at > 2;
        let name = &text[if encoded { at + 2 } else { at }..name_end];
        let is_code = name.eq_ignore_ascii_case("code");
        let found = (is_code || secret_name(name))
            .then(|| value_start(bytes, name_end))
            .flatten();
        let Some((start, quote)) = found else {
            at = name_end;
            continue;
        };
        let end = value_end(bytes, start, quote);
        let value = &text[start..end];
        if !value.is_empty() && value != REDACTED && !(is_code && platform_code(value)) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        at = end.max(name_end);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

fn blob_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-')
}

/// Whether a run of base64 characters is a secret-looking blob.
fn is_blob(run: &[u8]) -> bool {
    run.len() >= BLOB_MIN
        && run.iter().any(u8::is_ascii_uppercase)
        && run.iter().any(u8::is_ascii_lowercase)
        && run.iter().any(u8::is_ascii_digit)
}

/// Replaces long base64 blobs (with their `=` padding).
fn scrub_blobs(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if !blob_byte(bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && blob_byte(bytes[at]) {
            at += 1;
        }
        if is_blob(&bytes[start..at]) {
            let padding = bytes[at..]
                .iter()
                .take(2)
                .take_while(|b| **b == b'=')
                .count();
            at += padding;
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = at;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "SENTINEL-tok-1";

    fn clean(text: &str) -> String {
        let scrubbed = scrub(text);
        assert!(!scrubbed.contains(SENTINEL), "{text:?} → {scrubbed:?}");
        scrubbed
    }

    #[test]
    fn the_alipay_signing_string_in_an_invalid_signature_sub_msg_loses_its_token() {
        let sub_msg = format!(
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：\
             app_auth_token={SENTINEL}&app_id=2021000000000000&biz_content={{\"app_version\":\"1.0.0\"}}\
             &charset=utf-8&method=alipay.open.mini.version.upload&sign_type=RSA2\
             &timestamp=2024-05-01 10:00:00&version=1.0"
        );
        let scrubbed = clean(&sub_msg);
        assert!(scrubbed.contains("app_auth_token=***&app_id=2021000000000000"));
        assert!(scrubbed.contains("sign_type=RSA2"), "{scrubbed}");
        assert!(scrubbed.contains("method=alipay.open.mini.version.upload"));
        assert!(scrubbed.contains("验签出错"));
    }

    #[test]
    fn every_secret_parameter_shape_is_scrubbed() {
        let names = [
            "app_auth_token",
            "access_token",
            "authorizer_access_token",
            "component_access_token",
            "authorizer_refresh_token",
            "refresh_token",
            "app_refresh_token",
            "sign",
            "private_key",
            "component_verify_ticket",
            "pre_auth_code",
            "auth_code",
            "app_auth_code",
            "authorization_code",
            "component_appsecret",
            "component_secret",
            "secret",
            "encoding_aes_key",
            "msg_signature",
            "Access_Token",
        ];
        for name in names {
            for shape in [
                format!("x=1&{name}={SENTINEL}&y=2"),
                format!("https://api.weixin.qq.com/wxa/commit?{name}={SENTINEL}"),
                format!("{{\"{name}\":\"{SENTINEL}\",\"y\":1}}"),
                format!("{{\"{name}\": \"{SENTINEL}\"}}"),
                format!("{{\\\"{name}\\\":\\\"{SENTINEL}\\\"}}"),
                format!("{name}: {SENTINEL}"),
                format!("redirect=https%3A%2F%2Fx%3F{name}%3D{SENTINEL}%26a%3D1"),
                format!("redirect=https%3A%2F%2Fx%3Fa%3D1%26{name}%3D{SENTINEL}"),
                format!("{name}='{SENTINEL} with spaces'"),
            ] {
                clean(&shape);
            }
        }
    }

    #[test]
    fn platform_codes_and_ordinary_words_are_kept() {
        for kept in [
            "cgi-bin/component/api_component_token failed with 61006 (the component_verify_ticket is invalid)",
            "{\"code\":\"40004\",\"msg\":\"Business Failed\",\"sub_code\":\"isv.invalid-signature\"}",
            "code: MINI_APP_INFO_AUDIT_CONTAINS",
            "invalid credential, access_token is invalid or not latest rid: 6650a1b2-3c4d5e6f-7a8b9c0d",
            "sign_type=RSA2&version=1.0",
            "isv.invalid-signature: 验签出错",
            "aop.invalid-app-auth-token: 无效的应用授权令牌",
            "fingerprint 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "traceId=0b1234abcd5678ef90123456789abcde",
            "MINI_APP_INFO_AUDIT_CONTAINS_SOMETHING_VERY_LONG_NAME_1",
            "",
            "token",
            "ticket=",
        ] {
            assert_eq!(scrub(kept), kept);
            assert!(matches!(scrub_cow(kept), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn an_authorization_code_is_scrubbed_where_a_platform_code_is_kept() {
        let biz = format!(
            "biz_content={{\"code\":\"P{SENTINEL}9x\",\"grant_type\":\"authorization_code\"}}"
        );
        let scrubbed = clean(&biz);
        assert!(
            scrubbed.contains("\"grant_type\":\"authorization_code\""),
            "{scrubbed}"
        );
    }

    #[test]
    fn long_base64_blobs_are_scrubbed_alone() {
        let signature = "kZ4v3J2Qe9Xb+7aLmN0pQrStUvWxYz12AbCdEfGhIjKlMnOpQrStUvWxYz/34Aa==";
        let text = format!("sign check failed for {signature} at 10:00");
        assert_eq!(scrub(&text), "sign check failed for *** at 10:00");
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----";
        assert!(
            !scrub(pem)
                .contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj")
        );
        let token = "61_Zx9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdEFGH-ijklmnopQRS";
        assert_eq!(scrub(&format!("bad {token}")), "bad ***");
    }

    #[test]
    fn scrubbing_twice_changes_nothing_more() {
        let once = scrub(&format!("access_token={SENTINEL}&sign=abc"));
        assert_eq!(once, "access_token=***&sign=***");
        assert_eq!(scrub(&once), once);
    }

    proptest::proptest! {
        #[test]
        fn any_text_scrubs_without_panicking_and_once_is_enough(text in "[a-z_=&:\"'%0-9A-Z/+\\ é-]{0,120}") {
            let once = scrub(&text);
            proptest::prop_assert_eq!(scrub(&once), once);
        }

        #[test]
        fn a_secret_value_never_survives_its_parameter(value in "[A-Za-z0-9_.*@-]{1,60}", sep in "(=|:|: |%3D)") {
            let query = scrub(&format!("a=1&access_token{sep}{value}&b=2"));
            proptest::prop_assert_eq!(query, format!("a=1&access_token{sep}***&b=2"));
            let json = scrub(&format!("{{\"app_auth_token\"{sep}\"{value}\"}}"));
            proptest::prop_assert_eq!(json, format!("{{\"app_auth_token\"{sep}\"***\"}}"));
        }
    }

    #[test]
    fn any_text_scrubs_without_panicking() {
        for text in [
            "=",
            "a=",
            "token=\"",
            "token=\\",
            "code:",
            "%3",
            "token%3",
            "é=token=ü",
            "token= ",
        ] {
            let _ = scrub(text);
        }
    }
}
