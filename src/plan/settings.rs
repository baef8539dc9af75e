//! The settings an audit needs beside the code (issue 16), planned: the app's domains before the
//! commit that needs them, and its privacy guide before each submission (after the commit's scan)
//! and, after a release that is not the first, on the live guide too (WeChat copies the guide
//! over only at the first release); and its QR-code jump rules, added, edited and deleted before
//! the code steps (they need no build) and published once the app has a release.

use crate::model::settings::{DOMAIN_KINDS, DOMAINS_KEY, jump_key};
use crate::model::{Action, Desired, Domains, Observed, Record, Step};

use super::plural;
use super::readiness::Blocker;

/// What the domains of one app need.
#[derive(Debug, Default)]
pub(super) struct DomainsPlan {
    /// The step that sets them, when they differ.
    pub step: Option<Step>,
    /// Setting these domains failed for good: why, and what to do.
    pub failed: Option<(String, String)>,
    /// Wanted domains the platform says are not in effect.
    pub blocker: Option<Blocker>,
}

/// Plans `desired`'s domains against what the platform reported.
pub(super) fn plan_domains(desired: &Desired, observed: &Observed, record: &Record) -> DomainsPlan {
    let mut out = DomainsPlan::default();
    let Some(wanted) = desired.domains.as_deref() else {
        return out;
    };
    if let Some(failure) = record.setting_failure(DOMAINS_KEY, &wanted.digest()) {
        out.failed = Some((
            failure.words(),
            "fix the app's `domains` (or what the platform asks for) and change them to try again"
                .to_owned(),
        ));
        return out;
    }
    let wanted = wanted.clone().normalized();
    let live = observed.domains.as_ref();
    let mut set = Domains::default();
    let mut changes = Vec::new();
    for kind in DOMAIN_KINDS {
        let Some(want) = wanted.get(kind) else {
            continue;
        };
        let have = live.and_then(|l| l.lists.get(kind));
        if have == Some(want) {
            continue;
        }
        changes.push(match have {
            Some(have) => format!("{kind}: {}", difference(have, want)),
            None => format!(
                "{kind}: not read yet, set to {} domain{}",
                want.len(),
                plural(want.len())
            ),
        });
        if let Some(slot) = set.slot(kind) {
            *slot = Some(want.clone());
        }
    }
    if !changes.is_empty() {
        out.step = Some(Step {
            action: Action::SetDomains { domains: set },
            reason: format!(
                "the fleet wants other domains ({}); set before the commit that calls them",
                changes.join("; ")
            ),
        });
        return out;
    }
    let list: Vec<&str> = live
        .map(|l| l.invalid.iter())
        .into_iter()
        .flatten()
        .filter(|d| {
            DOMAIN_KINDS
                .iter()
                .any(|k| wanted.get(k).is_some_and(|w| w.contains(d)))
        })
        .map(String::as_str)
        .collect();
    if !list.is_empty() {
        out.blocker = Some(Blocker {
            reason: format!(
                "blocked before submitting: WeChat says the domain{} {} {} not in effect",
                plural(list.len()),
                list.join(", "),
                if list.len() == 1 { "is" } else { "are" }
            ),
            help:
                "register each on the third-party platform (小程序服务器域名) and make sure it is \
                   ICP-filed; minifleet submits once WeChat lists none as invalid"
                    .to_owned(),
        });
    }
    out
}

/// What the jump rules of one app need.
#[derive(Debug, Default)]
pub(super) struct JumpPlan {
    /// Adds, edits, publications and deletions.
    pub steps: Vec<Step>,
    /// What the operator must know: the verification file, rules that failed.
    pub notes: Vec<String>,
}

/// Plans `desired`'s QR-code jump rules against what the platform reported: a rule missing or
/// different is added (edited), an unpublished one is published once the app has a release, and
/// a rule minifleet added that left the fleet is deleted. A rule whose last try failed for good
/// waits until the fleet changes it.
pub(super) fn plan_jump(desired: &Desired, observed: &Observed, record: &Record) -> JumpPlan {
    let mut out = JumpPlan::default();
    let Some(wanted) = desired.qrcode_jump.as_deref() else {
        return out;
    };
    let live = observed.jump.as_ref();
    let live_rule =
        |prefix: &str| live.and_then(|l| l.rules.iter().find(|r| r.rule.prefix == prefix));
    let released = observed.live.is_some();
    let mut adds = 0;
    let mut unpublished = false;
    for want in wanted {
        let want = want.clone().normalized();
        if let Some(failure) = record.setting_failure(&jump_key(&want.prefix), &want.digest()) {
            out.notes.push(format!(
                "jump rule `{}`: {}; change the rule to try again",
                want.prefix,
                failure.words()
            ));
            continue;
        }
        let have = live_rule(&want.prefix);
        let same = have.is_some_and(|h| h.rule.clone().normalized() == want);
        let prefix = want.prefix.clone();
        if !same {
            let edit = have.is_some();
            let reason = if edit {
                format!("jump rule `{prefix}` differs from the fleet's")
            } else {
                format!("the fleet wants jump rule `{prefix}` → {}", want.path)
            };
            adds += usize::from(!edit);
            out.steps.push(Step {
                action: Action::AddJumpRule { rule: want, edit },
                reason,
            });
        }
        if have.is_some_and(|h| h.published) && same {
            continue;
        }
        if released {
            out.steps.push(Step {
                reason: format!("jump rule `{prefix}`: its links open the app once published"),
                action: Action::PublishJumpRule { prefix },
            });
        } else {
            unpublished = true;
        }
    }
    if unpublished {
        out.notes.push(
            "jump rules are published once the app has a release (WeChat refuses before, 85074)"
                .to_owned(),
        );
    }
    for gone in live.map(|l| l.rules.as_slice()).unwrap_or_default() {
        let prefix = &gone.rule.prefix;
        if record.jump_prefixes.contains(prefix) && !wanted.iter().any(|w| &w.prefix == prefix) {
            out.steps.push(Step {
                action: Action::DeleteJumpRule {
                    prefix: prefix.clone(),
                },
                reason: format!("jump rule `{prefix}` left the fleet"),
            });
        }
    }
    if adds > 0
        && let Some(file) = live.and_then(|l| l.file.as_ref())
    {
        out.notes.push(format!(
            "before a jump rule is added WeChat fetches `{name}` from the root of its link's \
             domain (https://<domain>/{name}): host it there with the content `{}`, or the rule \
             fails with 85069",
            file.content,
            name = file.name,
        ));
    }
    out
}

/// `+ added, − removed` between two sorted lists.
fn difference(have: &[String], want: &[String]) -> String {
    let added: Vec<String> = want
        .iter()
        .filter(|d| !have.contains(d))
        .map(|d| format!("+ {d}"))
        .collect();
    let removed: Vec<String> = have
        .iter()
        .filter(|d| !want.contains(d))
        .map(|d| format!("− {d}"))
        .collect();
    let mut all = added;
    all.extend(removed);
    all.join(", ")
}

/// Adds the privacy guide's steps to `steps` when the fleet sets one: the development guide
/// before each submission, the live one after each release that is not the app's first.
pub(super) fn plan_privacy(desired: &Desired, observed: &Observed, steps: &mut Vec<Step>) {
    let Some(privacy) = desired.privacy.as_deref() else {
        return;
    };
    let keys = privacy.texts.len();
    let mut out = Vec::with_capacity(steps.len() + 2);
    for step in steps.drain(..) {
        let released = matches!(step.action, Action::Release { .. });
        if matches!(step.action, Action::SubmitAudit { .. }) {
            out.push(Step {
                action: Action::SetPrivacy { live: false },
                reason: format!(
                    "the build's privacy guide ({keys} key{}) is set after its privacy scan, \
                     before the submission; a key the scan finds that the fleet does not \
                     describe stops the app here",
                    plural(keys)
                ),
            });
        }
        out.push(step);
        if released && observed.live.is_some() {
            out.push(Step {
                action: Action::SetPrivacy { live: true },
                reason: "WeChat copies the guide to users only at the first release: the live \
                         guide is set to the fleet's"
                    .to_owned(),
            });
        }
    }
    *steps = out;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::settings::{LiveRule, VerifyFile};
    use crate::model::{Failure, JumpRule, LiveDomains, LiveJump, Privacy};
    use crate::plan::tests::{approved, desired, kinds, plan, steady_old};

    /// The wanted build live and nothing else to do.
    fn approved_live() -> Observed {
        let d = desired();
        let mut o = approved();
        let build = o.audit.as_ref().unwrap().build.clone();
        o.live = Some(crate::model::Live { build, gray: None });
        assert!(plan(&d, &o, &Record::default()).steps.is_empty());
        o
    }

    fn with_domains(request: &[&str]) -> Desired {
        let mut d = desired();
        d.domains = Some(Arc::new(Domains {
            request: Some(request.iter().map(|s| (*s).to_owned()).collect()),
            ..Domains::default()
        }));
        d
    }

    fn live(request: &[&str], invalid: &[&str]) -> Option<LiveDomains> {
        Some(LiveDomains {
            lists: Domains {
                request: Some(request.iter().map(|s| (*s).to_owned()).collect()),
                ..Domains::default()
            },
            invalid: invalid.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    #[test]
    fn domains_that_differ_are_set_before_the_commit() {
        let d = with_domains(&["https://b.example.com", "https://A.example.com"]);
        let mut o = steady_old();
        o.domains = live(&["https://a.example.com", "https://old.example.com"], &[]);
        let p = plan(&d, &o, &Record::default());
        assert_eq!(kinds(&p)[..2], ["set_domains", "commit"]);
        let step = &p.steps[0];
        let Action::SetDomains { domains } = &step.action else {
            panic!("{step:?}")
        };
        assert_eq!(
            domains.request.as_deref().unwrap(),
            ["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(
            domains.webview, None,
            "a kind the fleet leaves alone is not set"
        );
        assert!(
            step.reason.contains("+ https://b.example.com"),
            "{}",
            step.reason
        );
        assert!(
            step.reason.contains("− https://old.example.com"),
            "{}",
            step.reason
        );
        // Once they match, nothing is planned for them.
        o.domains = live(&["https://a.example.com", "https://b.example.com"], &[]);
        let p = plan(&d, &o, &Record::default());
        assert!(!kinds(&p).contains(&"set_domains"));
        // Not read (an older observation): set, which makes the engine observe them first.
        o.domains = None;
        let p = plan(&d, &o, &Record::default());
        assert_eq!(kinds(&p)[0], "set_domains");
        assert!(p.steps[0].reason.contains("not read yet"));
    }

    #[test]
    fn a_wanted_domain_not_in_effect_blocks_the_submission_and_not_the_commit() {
        let d = with_domains(&["https://a.example.com"]);
        let mut o = steady_old();
        o.domains = live(&["https://a.example.com"], &["https://a.example.com"]);
        let p = plan(&d, &o, &Record::default());
        assert_eq!(kinds(&p), ["commit"]);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("https://a.example.com is not in effect"))
        );
        // An invalid domain the fleet does not want blocks nothing.
        o.domains = live(&["https://a.example.com"], &["https://other.example.com"]);
        let p = plan(&d, &o, &Record::default());
        assert!(kinds(&p).contains(&"submit_audit"), "{:?}", kinds(&p));
    }

    #[test]
    fn a_failed_domain_set_stops_the_app_until_the_domains_change() {
        let d = with_domains(&["https://a.example.com"]);
        let digest = d.domains.as_deref().unwrap().digest();
        let failure = Failure {
            fingerprint: digest,
            call: "wxa/modify_domain".into(),
            code: "85018".into(),
            message: "not registered on the component".into(),
            audit: None,
        };
        let record = Record {
            setting_failures: [(DOMAINS_KEY.to_owned(), failure)].into_iter().collect(),
            ..Record::default()
        };
        let p = plan(&d, &steady_old(), &record);
        assert!(p.steps.is_empty(), "{:?}", kinds(&p));
        assert!(
            matches!(&p.state, crate::model::AppState::Failed { reason, .. } if reason.contains("85018"))
        );
        let other = with_domains(&["https://c.example.com"]);
        let p = plan(&other, &steady_old(), &record);
        assert_eq!(kinds(&p)[0], "set_domains", "other domains are tried");
    }

    fn with_rules(rules: &[(&str, &str)]) -> Desired {
        let mut d = desired();
        d.qrcode_jump = Some(Arc::new(
            rules
                .iter()
                .map(|(prefix, path)| JumpRule {
                    prefix: (*prefix).to_owned(),
                    path: (*path).to_owned(),
                    sub_rules: false,
                    open_version: Default::default(),
                    test_links: Vec::new(),
                })
                .collect(),
        ));
        d
    }

    fn live_rules(rules: &[(&str, &str, bool)]) -> Option<LiveJump> {
        Some(LiveJump {
            rules: rules
                .iter()
                .map(|(prefix, path, published)| LiveRule {
                    rule: JumpRule {
                        prefix: (*prefix).to_owned(),
                        path: (*path).to_owned(),
                        sub_rules: false,
                        open_version: Default::default(),
                        test_links: Vec::new(),
                    },
                    published: *published,
                })
                .collect(),
            file: Some(VerifyFile {
                name: "abc.txt".into(),
                content: "123".into(),
            }),
        })
    }

    #[test]
    fn jump_rules_are_added_published_once_released_and_deleted_when_they_leave() {
        const T: &str = "https://shop.example.com/t/";
        const Q: &str = "https://shop.example.com/q/";
        let d = with_rules(&[(T, "pages/table/index")]);
        // Released, nothing there: add, then publish; the file to host is named.
        let mut o = approved_live();
        o.jump = live_rules(&[]);
        let p = plan(&d, &o, &Record::default());
        assert_eq!(kinds(&p), ["add_jump_rule", "publish_jump_rule"]);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("`abc.txt`") && n.contains("`123`"))
        );
        // Not released yet: added, and published later.
        let mut fresh = steady_old();
        fresh.live = None;
        fresh.jump = live_rules(&[]);
        let p = plan(&d, &fresh, &Record::default());
        assert_eq!(kinds(&p)[0], "add_jump_rule");
        assert!(!kinds(&p).contains(&"publish_jump_rule"));
        assert!(p.notes.iter().any(|n| n.contains("85074")));
        // There, unpublished: publish only. There and published: nothing.
        o.jump = live_rules(&[(T, "pages/table/index", false)]);
        assert_eq!(
            kinds(&plan(&d, &o, &Record::default())),
            ["publish_jump_rule"]
        );
        o.jump = live_rules(&[(T, "pages/table/index", true)]);
        assert!(kinds(&plan(&d, &o, &Record::default())).is_empty());
        // Different: edited and published again.
        o.jump = live_rules(&[(T, "pages/old/index", true)]);
        let p = plan(&d, &o, &Record::default());
        assert_eq!(
            p.steps[0].action,
            Action::AddJumpRule {
                rule: d.qrcode_jump.as_deref().unwrap()[0].clone(),
                edit: true,
            }
        );
        assert_eq!(kinds(&p), ["add_jump_rule", "publish_jump_rule"]);
        // A rule minifleet added that left the fleet is deleted; someone else's is left alone.
        o.jump = live_rules(&[
            (T, "pages/table/index", true),
            (Q, "pages/q/index", true),
            ("https://x.example.com/", "p", true),
        ]);
        let record = Record {
            jump_prefixes: [T.to_owned(), Q.to_owned()].into_iter().collect(),
            ..Record::default()
        };
        let p = plan(&d, &o, &record);
        assert_eq!(p.steps.len(), 1);
        assert_eq!(
            p.steps[0].action,
            Action::DeleteJumpRule {
                prefix: Q.to_owned()
            }
        );
    }

    #[test]
    fn a_failed_jump_rule_waits_for_a_change_and_holds_nothing_else_back() {
        const T: &str = "https://shop.example.com/t/";
        let d = with_rules(&[(T, "pages/table/index")]);
        let rule = d.qrcode_jump.as_deref().unwrap()[0].clone();
        let failure = Failure {
            fingerprint: rule.digest(),
            call: "cgi-bin/wxopen/qrcodejumpadd".into(),
            code: "85069".into(),
            message: "verification file check failed".into(),
            audit: None,
        };
        let record = Record {
            setting_failures: [(jump_key(T), failure)].into_iter().collect(),
            ..Record::default()
        };
        let mut o = steady_old();
        o.jump = live_rules(&[]);
        let p = plan(&d, &o, &record);
        assert!(!kinds(&p).contains(&"add_jump_rule"), "{:?}", kinds(&p));
        assert!(kinds(&p).contains(&"commit"), "the build goes on");
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("85069") && n.contains("change the rule"))
        );
        let changed = with_rules(&[(T, "pages/other/index")]);
        assert_eq!(kinds(&plan(&changed, &o, &record))[0], "add_jump_rule");
    }

    #[test]
    fn the_guide_is_set_before_each_submission_and_on_the_live_guide_after_a_release() {
        let mut d = desired();
        d.privacy = Some(Arc::new(Privacy::default()));
        let p = plan(&d, &steady_old(), &Record::default());
        assert_eq!(
            kinds(&p),
            [
                "commit",
                "set_privacy",
                "submit_audit",
                "wait_for_audit",
                "release",
                "set_privacy"
            ]
        );
        assert_eq!(p.steps[1].action, Action::SetPrivacy { live: false });
        let p = plan(&d, &approved(), &Record::default());
        assert_eq!(kinds(&p), ["release", "set_privacy"]);
        assert_eq!(p.steps[1].action, Action::SetPrivacy { live: true });
        // The first release copies the guide over by itself.
        let mut first = approved();
        first.live = None;
        let p = plan(&d, &first, &Record::default());
        assert_eq!(kinds(&p), ["release"]);
    }
}
