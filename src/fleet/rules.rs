//! Small checks on single values: version numbers, names, emails, phones, endpoints.

use super::ApiBase;

/// Whether `v` is `x.y.z` with digits only.
pub(crate) fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` matches `^[A-Za-z0-9][A-Za-z0-9._-]*$`.
pub(crate) fn is_app_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `text` is `local@domain.tld` without whitespace.
pub(crate) fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').count() >= 2 && domain.split('.').all(|l| !l.is_empty());
    !local.is_empty() && labels_ok && !text.contains(char::is_whitespace) && !domain.contains('@')
}

/// Whether `text` is a phone number: optional `+`, then digits and `-`, at least 5 digits.
pub(crate) fn is_phone(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    body.starts_with(|c: char| c.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && digits >= 5
}

/// Parses an endpoint: `sandbox` or an http(s) URL.
pub(crate) fn api_base(text: &str) -> Option<ApiBase> {
    if text == "sandbox" {
        return Some(ApiBase::Sandbox);
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))?;
    (!rest.is_empty() && !rest.contains(char::is_whitespace)).then(|| ApiBase::Url(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_digit_groups() {
        assert!(is_version("1.4.0"));
        assert!(is_version("10.20.300"));
        for bad in ["1.4", "1.4.0.1", "v1.4.0", "1..0", "1.4.x", ""] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_app_name("tea-house.v2_x"));
        assert!(!is_app_name("-tea"));
        assert!(!is_app_name("tea house"));
        assert!(!is_app_name(""));
    }

    #[test]
    fn endpoints() {
        assert_eq!(api_base("sandbox"), Some(ApiBase::Sandbox));
        assert_eq!(
            api_base("http://127.0.0.1:8080"),
            Some(ApiBase::Url("http://127.0.0.1:8080".into()))
        );
        assert_eq!(api_base("ftp://x"), None);
        assert_eq!(api_base("https://"), None);
    }
}
