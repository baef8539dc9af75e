//! The fleet's `domains` and `privacy` keys (per app, with defaults): WeChat's, checked here for
//! what the platform would refuse, so a bad list is a validation error and not a failed call.

use super::inherit::AppAt;
use super::path::YamlPath;
use super::problems::{MaybeHelp, Problems};
use super::raw::RawApp;
use crate::model::settings::{DOMAIN_KINDS, is_days};
use crate::model::{Domains, JumpRule, Privacy};

/// WeChat's cap on the domains of one kind.
pub const MAX_PER_KIND: usize = 200;

/// The scheme a domain of `kind` is written with.
fn scheme_of(kind: &str) -> &'static str {
    match kind {
        "ws" => "wss://",
        "udp" => "udp://",
        "tcp" => "tcp://",
        _ => "https://",
    }
}

/// Why `domain` is not a domain of `kind` as WeChat takes it (`https://host[:port]`, no IP, no
/// path); `None` when it is.
pub fn domain_problem(kind: &str, domain: &str) -> Option<String> {
    let scheme = scheme_of(kind);
    let Some(rest) = domain.strip_prefix(scheme) else {
        return Some(format!("a `{kind}` domain starts with `{scheme}`"));
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Some("the port must be a number from 1 to 65535".to_owned());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.contains('/') || host.contains('?') || host.contains('#') {
        return Some("a domain has no path: write only the scheme, the host and a port".to_owned());
    }
    if !host.contains('.') || !host.split('.').all(label_ok) {
        return Some(format!("`{host}` is not a host name"));
    }
    if host
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("WeChat takes no IP addresses, only ICP-filed host names".to_owned());
    }
    None
}

/// Checks `domains` (any platform that takes them).
fn check_domains(domains: &Domains, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let top = YamlPath::top("domains");
    for kind in DOMAIN_KINDS {
        let Some(list) = domains.get(kind) else {
            continue;
        };
        let at = top.key(kind);
        if list.len() > MAX_PER_KIND {
            app.value(
                p,
                &at,
                format!(
                    "{} `{kind}` domains, WeChat takes at most {MAX_PER_KIND}",
                    list.len()
                ),
            )
            .help("keep the ones the template calls");
        }
        for (i, domain) in list.iter().enumerate() {
            if let Some(problem) = domain_problem(kind, domain.trim()) {
                app.value(p, &at.index(i), format!("`{domain}`: {problem}"))
                    .help(format!(
                        "write it as `{}shop.example.com` (a port is allowed: `…:8443`)",
                        scheme_of(kind)
                    ));
            }
        }
    }
}

/// Checks `privacy`.
fn check_privacy(privacy: &Privacy, app: &AppAt<'_>, p: &mut Problems<'_>) {
    let top = YamlPath::top("privacy");
    if privacy.contact.is_empty() {
        app.value(
            p,
            &top.key("contact"),
            "the guide needs a way to reach its owner",
        )
        .help("give at least one of `email`, `phone`, `qq`, `weixin`");
    }
    if privacy.notice_method.trim().is_empty() {
        app.value(
            p,
            &top.key("notice_method"),
            "the guide must say how users are told",
        )
        .help("e.g. `notice_method: 弹窗提示`");
    }
    if let Some(expire) = privacy.store_expire.as_deref().filter(|e| !is_days(e)) {
        app.value(
            p,
            &top.key("store_expire"),
            format!("`{expire}` is not a number of days as WeChat takes it (87072)"),
        )
        .help("write the days followed by 天, e.g. `30天`, or leave it out");
    }
    for (key, text) in &privacy.texts {
        if text.trim().is_empty() {
            app.value(
                p,
                &top.key("texts").key(key),
                format!("`{key}` needs a text: what the app uses it for"),
            )
            .help("users read it in the guide, e.g. `为你推荐附近门店`");
        }
    }
}

/// Checks `qrcode_jump`: links WeChat takes, test links under their prefix, one rule a prefix.
fn check_jump(rules: &[JumpRule], app: &AppAt<'_>, p: &mut Problems<'_>) {
    let top = YamlPath::top("qrcode_jump");
    let mut seen: Vec<&str> = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = top.index(i);
        let link_ok = |l: &str| {
            let rest = l
                .strip_prefix("https://")
                .or_else(|| l.strip_prefix("http://"));
            rest.and_then(|r| r.split('/').next())
                .is_some_and(|host| domain_problem("request", &format!("https://{host}")).is_none())
        };
        if !link_ok(&rule.prefix) {
            app.value(
                p,
                &at.key("prefix"),
                format!("`{}` is not a link WeChat takes (85066)", rule.prefix),
            )
            .help(
                "write an http(s) link on an ICP-filed domain, e.g. `https://shop.example.com/t/`",
            );
        }
        if seen.contains(&rule.prefix.as_str()) {
            app.value(
                p,
                &at.key("prefix"),
                format!("`{}` has two rules", rule.prefix),
            )
            .help("keep one rule per prefix");
        }
        seen.push(&rule.prefix);
        if rule.path.trim().is_empty() || rule.path.starts_with('/') {
            app.value(
                p,
                &at.key("path"),
                "the page the links open, without a leading `/`",
            )
            .help("e.g. `path: pages/table/index`");
        }
        if rule.test_links.len() > 5 {
            app.value(
                p,
                &at.key("test_links"),
                format!(
                    "{} test links, WeChat takes at most 5",
                    rule.test_links.len()
                ),
            )
            .help("keep five");
        }
        for (j, link) in rule.test_links.iter().enumerate() {
            if !link.starts_with(&rule.prefix) {
                app.value(
                    p,
                    &at.key("test_links").index(j),
                    format!("`{link}` is not under the prefix `{}` (85068)", rule.prefix),
                )
                .help("a test link starts with the rule's prefix");
            }
        }
    }
}

/// Checks the app's `domains`, `privacy` and `qrcode_jump` on WeChat, which manages them.
pub fn check(raw: &RawApp, app: &AppAt<'_>, p: &mut Problems<'_>) {
    if let Some(rules) = raw.qrcode_jump.as_deref() {
        check_jump(rules, app, p);
    }
    if let Some(domains) = raw.domains.as_deref() {
        check_domains(domains, app, p);
    }
    if let Some(privacy) = raw.privacy.as_deref() {
        check_privacy(privacy, app, p);
    }
}

/// Refuses `domains` and `privacy` on a platform that sets them in its console.
pub fn refuse(raw: &RawApp, platform: &str, app: &AppAt<'_>, p: &mut Problems<'_>) {
    for (key, set) in [
        ("domains", raw.domains.is_some()),
        ("privacy", raw.privacy.is_some()),
        ("qrcode_jump", raw.qrcode_jump.is_some()),
    ] {
        if set {
            app.value(
                p,
                &YamlPath::top(key),
                format!("`{key}` is managed on WeChat only; {platform} sets it in its console"),
            )
            .help(format!(
                "remove `{key}` from this app (or give it to the WeChat apps only)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_as_wechat_takes_them() {
        assert_eq!(
            domain_problem("request", "https://api.shop.example.com"),
            None
        );
        assert_eq!(domain_problem("ws", "wss://push.example.com:8443"), None);
        for (kind, domain, words) in [
            (
                "request",
                "http://api.example.com",
                "starts with `https://`",
            ),
            ("ws", "https://a.example.com", "starts with `wss://`"),
            ("request", "https://10.0.0.1", "no IP addresses"),
            ("request", "https://a.example.com/api", "no path"),
            ("request", "https://localhost", "not a host name"),
            ("request", "https://a.example.com:0", "port"),
            ("request", "https://a.example.com:99999", "port"),
            ("upload", "https://-a.example.com", "not a host name"),
        ] {
            let problem = domain_problem(kind, domain).expect(domain);
            assert!(problem.contains(words), "{domain}: {problem}");
        }
    }
}
