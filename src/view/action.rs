//! Actions in words: the plan symbol, a short description, and counted labels for summaries.

use crate::model::{Action, fingerprint_tag};

/// The plan symbol: `+` add, `~` change, `-` remove, `<` roll back, `…` wait, `?` verify.
pub fn symbol(action: &Action) -> &'static str {
    match action {
        Action::VerifyTester { .. } => "?",
        Action::Commit { .. } | Action::SubmitAudit { .. } | Action::BindTester { .. } => "+",
        Action::Release { .. } | Action::Gray { .. } => "~",
        Action::WithdrawAudit { .. }
        | Action::RevertGray
        | Action::DeleteBuild { .. }
        | Action::UnbindTester { .. } => "-",
        Action::Rollback { .. } => "<",
        Action::WaitForAudit { .. } => "…",
        Action::SetDomains { .. }
        | Action::SetPrivacy { .. }
        | Action::PublishJumpRule { .. }
        | Action::AddJumpRule { edit: true, .. } => "~",
        Action::AddJumpRule { edit: false, .. } => "+",
        Action::DeleteJumpRule { .. } => "-",
    }
}

/// The kinds of domain a [`Action::SetDomains`] sets, `request, ws, …` (the six server kinds as
/// `server`).
fn domain_kinds(domains: &crate::model::Domains) -> String {
    let mut kinds = Vec::new();
    if domains.has_server() {
        kinds.push("server");
    }
    if domains.webview.is_some() {
        kinds.push("webview");
    }
    kinds.join(", ")
}

/// Which privacy guide a [`Action::SetPrivacy`] sets.
fn guide(live: bool) -> &'static str {
    if live { "live" } else { "development" }
}

/// What an action does, in a few words: `commit 1.5.0 [mf:1a2b3c4d]`, `gray 10% → 50% [mf:…]`.
/// The plan's step titles, progress lines and history say it the same way.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Commit {
            version,
            fingerprint,
        } => format!("commit {version} {}", fingerprint_tag(fingerprint)),
        Action::WithdrawAudit {
            audit_id,
            fingerprint,
        } => match fingerprint {
            Some(fp) => format!("withdraw audit {audit_id} {}", fingerprint_tag(fp)),
            None => format!("withdraw audit {audit_id}"),
        },
        Action::DeleteBuild { version } => format!("delete build {version}"),
        Action::SubmitAudit { fingerprint } => {
            format!("submit audit {}", fingerprint_tag(fingerprint))
        }
        Action::WaitForAudit { audit_id } if audit_id.is_empty() => "wait for audit".to_owned(),
        Action::WaitForAudit { audit_id } => format!("wait for audit {audit_id}"),
        Action::Release { fingerprint } => {
            format!("release {} to 100%", fingerprint_tag(fingerprint))
        }
        Action::Gray {
            fingerprint,
            from,
            to,
        } => match from {
            Some(from) => format!("gray {from}% → {to}% {}", fingerprint_tag(fingerprint)),
            None => format!("gray → {to}% {}", fingerprint_tag(fingerprint)),
        },
        Action::RevertGray => "revert gray release".to_owned(),
        Action::Rollback { fingerprint } => {
            format!("roll back to {}", fingerprint_tag(fingerprint))
        }
        Action::SetDomains { domains } => format!("set domains ({})", domain_kinds(domains)),
        Action::SetPrivacy { live } => format!("set the {} privacy guide", guide(*live)),
        Action::AddJumpRule { rule, edit } => format!(
            "{} jump rule `{}` → {}",
            if *edit { "edit" } else { "add" },
            rule.prefix,
            rule.path
        ),
        Action::PublishJumpRule { prefix } => format!("publish jump rule `{prefix}`"),
        Action::DeleteJumpRule { prefix } => format!("delete jump rule `{prefix}`"),
        Action::BindTester { tester } => format!("bind tester `{tester}`"),
        Action::VerifyTester { tester } => format!("verify tester `{tester}`"),
        Action::UnbindTester {
            tester: Some(tester),
            ..
        } => format!("unbind tester `{tester}`"),
        Action::UnbindTester {
            member: Some(member),
            ..
        } => format!("unbind member `{member}`"),
        Action::UnbindTester { .. } => "unbind a member".to_owned(),
    }
}

/// `3 commits`, `1 audit submitted`: `n` applied actions of one kind (see [`Action::kind`]).
pub fn applied_label(kind: &str, n: usize) -> String {
    let (one, many) = match kind {
        "commit" => ("commit", "commits"),
        "submit_audit" => ("audit submitted", "audits submitted"),
        "withdraw_audit" => ("audit withdrawn", "audits withdrawn"),
        "release" => ("release", "releases"),
        "gray" => ("gray change", "gray changes"),
        "revert_gray" => ("gray reverted", "grays reverted"),
        "rollback" => ("rollback", "rollbacks"),
        "delete_build" => ("build deleted", "builds deleted"),
        "bind_tester" => ("tester bound", "testers bound"),
        "verify_tester" => ("tester verified", "testers verified"),
        "unbind_tester" => ("tester unbound", "testers unbound"),
        other => (other, other),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}
