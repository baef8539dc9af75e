//! Messages in each sink's own format and language, from a batch of notices: one line per notice,
//! or one digest line per kind when a burst brings three or more ("37 个应用审核通过"), each
//! with a link to the web page when the fleet gives its address. Pure: no I/O, no clock.

use serde_json::{Value, json};

use super::Notice;
use crate::fleet::notify_spec::{Language, NoticeKind, SinkKind};

/// A batch of this many notices of one kind or more is told as one digest line.
pub const DIGEST_FROM: usize = 3;

/// How many apps a digest names before `…`.
const NAMED: usize = 5;

/// What happened, in a few words.
fn title(kind: NoticeKind, language: Language) -> &'static str {
    match (kind, language) {
        (NoticeKind::AuditApproved, Language::Zh) => "审核通过",
        (NoticeKind::AuditApproved, Language::En) => "audit approved",
        (NoticeKind::AuditRejected, Language::Zh) => "审核被驳回",
        (NoticeKind::AuditRejected, Language::En) => "audit rejected",
        (NoticeKind::AppFailed, Language::Zh) => "应用失败",
        (NoticeKind::AppFailed, Language::En) => "failed",
        (NoticeKind::RolloutHalted, Language::Zh) => "发布已暂停",
        (NoticeKind::RolloutHalted, Language::En) => "rollout halted",
        (NoticeKind::GateWaiting, Language::Zh) => "等待人工放行",
        (NoticeKind::GateWaiting, Language::En) => "waiting at a manual gate",
        (NoticeKind::QuotaExhausted, Language::Zh) => "等待本月审核额度",
        (NoticeKind::QuotaExhausted, Language::En) => "waiting for the monthly audit quota",
        (NoticeKind::QuotaLow, Language::Zh) => "本月审核额度不足",
        (NoticeKind::QuotaLow, Language::En) => "monthly audit quota low",
        (NoticeKind::Converged, Language::Zh) => "已是目标版本",
        (NoticeKind::Converged, Language::En) => "converged",
    }
}

/// The heading of every message.
fn heading(language: Language, count: usize) -> String {
    match language {
        Language::Zh => format!("minifleet: {count} 条通知"),
        Language::En => format!(
            "minifleet: {count} notice{}",
            if count == 1 { "" } else { "s" }
        ),
    }
}

/// The lines of a batch, most urgent kind first; `markdown` writes names in bold and links.
pub fn lines(
    notices: &[Notice],
    language: Language,
    link: Option<&str>,
    markdown: bool,
) -> Vec<String> {
    let bold = |s: &str| {
        if markdown {
            format!("**{s}**")
        } else {
            s.to_owned()
        }
    };
    let linked = |text: String, app: Option<&str>| match (link, app, markdown) {
        (Some(base), Some(app), true) => {
            format!("{text} [→]({}/apps/{app})", base.trim_end_matches('/'))
        }
        (Some(base), None, true) => format!("{text} [→]({})", base.trim_end_matches('/')),
        (Some(base), Some(app), false) => {
            format!("{text} {}/apps/{app}", base.trim_end_matches('/'))
        }
        (Some(base), None, false) => format!("{text} {}", base.trim_end_matches('/')),
        (None, _, _) => text,
    };
    let mut out = Vec::new();
    for kind in NoticeKind::ALL {
        let of_kind: Vec<&Notice> = notices.iter().filter(|n| n.kind == kind).collect();
        let what = title(kind, language);
        // A burst of one kind is a digest per wave ("37 apps approved in wave east"); the
        // notices of a wave with fewer than DIGEST_FROM stay one line each.
        let mut waves: Vec<Option<&str>> = of_kind.iter().map(|n| n.wave.as_deref()).collect();
        waves.sort_unstable();
        waves.dedup();
        let mut single = Vec::new();
        for wave in waves {
            let in_wave: Vec<&Notice> = of_kind
                .iter()
                .copied()
                .filter(|n| n.wave.as_deref() == wave)
                .collect();
            if in_wave.len() < DIGEST_FROM {
                single.extend(in_wave);
                continue;
            }
            let names: Vec<&str> = in_wave
                .iter()
                .filter_map(|n| n.app.as_deref())
                .take(NAMED)
                .collect();
            let more = if in_wave.len() > names.len() {
                ", …"
            } else {
                ""
            };
            let count = in_wave.len();
            let names = names.join(", ");
            let line = match (language, wave) {
                (Language::Zh, Some(wave)) => {
                    format!("{wave} 批次 {count} 个应用{what}: {names}{more}")
                }
                (Language::Zh, None) => format!("{count} 个应用{what}: {names}{more}"),
                (Language::En, Some(wave)) => {
                    format!("{count} apps {what} in wave {wave}: {names}{more}")
                }
                (Language::En, None) => format!("{count} apps {what}: {names}{more}"),
            };
            out.push(linked(line, None));
        }
        let of_kind = single;
        for notice in of_kind {
            let who = match (&notice.app, &notice.platform) {
                (Some(app), Some(platform)) => format!("{} ({platform})", bold(app)),
                (Some(app), None) => bold(app),
                (None, _) => String::new(),
            };
            let detail = notice
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let line = format!("{who} {what}{detail}").trim().to_owned();
            out.push(linked(line, notice.app.as_deref()));
        }
    }
    out
}

/// The JSON body of `kind`'s message for `notices` (the signing fields are the sender's).
pub fn body(kind: SinkKind, notices: &[Notice], language: Language, link: Option<&str>) -> Value {
    let head = heading(language, notices.len());
    match kind {
        SinkKind::Wecom => {
            let text = lines(notices, language, link, true).join("\n");
            json!({ "msgtype": "markdown", "markdown": { "content": format!("### {head}\n{text}") } })
        }
        SinkKind::Dingtalk => {
            let text = lines(notices, language, link, true)
                .iter()
                .map(|l| format!("- {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            json!({ "msgtype": "markdown",
                    "markdown": { "title": head, "text": format!("### {head}\n{text}") } })
        }
        SinkKind::Feishu => {
            let text = lines(notices, language, link, false).join("\n");
            json!({ "msg_type": "text", "content": { "text": format!("{head}\n{text}") } })
        }
        SinkKind::Slack => {
            let text = lines(notices, language, link, false).join("\n");
            json!({ "text": format!("*{head}*\n{text}") })
        }
        SinkKind::Webhook => {
            let text = lines(notices, language, link, false).join("\n");
            json!({ "text": format!("{head}\n{text}"), "notices": notices })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind, app: &str, detail: Option<&str>) -> Notice {
        Notice {
            kind,
            app: Some(app.to_owned()),
            appid: Some(format!("wx-{app}")),
            platform: Some("wechat".to_owned()),
            fingerprint: Some("1a2b3c4d".to_owned()),
            detail: detail.map(str::to_owned),
            wave: None,
            at_ms: 0,
            key: String::new(),
        }
    }

    #[test]
    fn a_burst_is_one_digest_and_the_rest_one_line_each_most_urgent_first() {
        let mut batch: Vec<Notice> = (0..37)
            .map(|i| notice(NoticeKind::AuditApproved, &format!("shop-{i:02}"), None))
            .collect();
        batch.push(notice(
            NoticeKind::AuditRejected,
            "tea-house",
            Some("logo infringes"),
        ));
        let zh = lines(&batch, Language::Zh, Some("https://mf.example.com/"), true);
        assert_eq!(zh.len(), 2);
        assert_eq!(
            zh[0],
            "**tea-house** (wechat) 审核被驳回: logo infringes [→](https://mf.example.com/apps/tea-house)"
        );
        assert!(
            zh[1].starts_with("37 个应用审核通过: shop-00, shop-01, shop-02, shop-03, shop-04, …"),
            "{}",
            zh[1]
        );
        let en = lines(&batch[..2], Language::En, None, false);
        assert_eq!(
            en,
            [
                "shop-00 (wechat) audit approved",
                "shop-01 (wechat) audit approved"
            ]
        );
    }

    #[test]
    fn a_digest_names_the_wave_of_its_apps() {
        let in_wave = |i: usize, wave: &str| Notice {
            wave: Some(wave.to_owned()),
            ..notice(NoticeKind::AuditApproved, &format!("shop-{i:02}"), None)
        };
        let mut batch: Vec<Notice> = (0..37).map(|i| in_wave(i, "east")).collect();
        batch.extend((37..39).map(|i| in_wave(i, "west")));
        let en = lines(&batch, Language::En, None, false);
        assert_eq!(
            en,
            [
                "37 apps audit approved in wave east: shop-00, shop-01, shop-02, shop-03, shop-04, …",
                "shop-37 (wechat) audit approved",
                "shop-38 (wechat) audit approved",
            ]
        );
        let zh = lines(&batch[..3], Language::Zh, None, false);
        assert_eq!(
            zh,
            ["east 批次 3 个应用审核通过: shop-00, shop-01, shop-02"]
        );
    }

    #[test]
    fn each_sink_gets_its_own_shape() {
        let batch = [notice(
            NoticeKind::AppFailed,
            "tea-house",
            Some("wxa/commit failed with 85013"),
        )];
        let wecom = body(SinkKind::Wecom, &batch, Language::Zh, None);
        assert_eq!(wecom["msgtype"], "markdown");
        assert!(
            wecom["markdown"]["content"]
                .as_str()
                .unwrap()
                .contains("**tea-house** (wechat) 应用失败")
        );
        let ding = body(SinkKind::Dingtalk, &batch, Language::Zh, None);
        assert_eq!(ding["markdown"]["title"], "minifleet: 1 条通知");
        let feishu = body(SinkKind::Feishu, &batch, Language::Zh, None);
        assert_eq!(feishu["msg_type"], "text");
        let slack = body(SinkKind::Slack, &batch, Language::En, None);
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .contains("tea-house (wechat) failed: wxa/commit failed with 85013")
        );
        let hook = body(SinkKind::Webhook, &batch, Language::En, None);
        assert_eq!(hook["notices"][0]["kind"], "app_failed");
        assert_eq!(hook["notices"][0]["fingerprint"], "1a2b3c4d");
    }
}
