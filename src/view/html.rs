//! The web status page (issue 17) as HTML, from the same views the CLI prints: the fleet table
//! (the status rows), one page per app (its row, its plan as `plan` prints it, its history as
//! `history` prints it, its experience QR code). Server-rendered and usable without JavaScript:
//! filters and search are a GET form, pages are links; a small script follows the API's event
//! stream and reloads the page when what it shows changed ([`Live`]). Pure: no I/O, no clock.

use std::fmt::Write as _;

use super::status::{StatusRow, audit_text, build_text, live_from_text};

/// Apps on one page of the fleet table.
pub const PAGE_SIZE: usize = 100;

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `value` percent-encoded for a link's query or path.
fn url(value: &str) -> String {
    crate::platform::http::query_value(value)
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em;margin:0 0 .6em}h2{font-size:1.1em;margin-top:1.4em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f4f4f4}code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f8f8f8;padding:.8em;overflow:auto}\
.state{font-weight:600}.failed,.not_authorized{color:#b00020}.in_sync{color:#1b7f3b}.held{color:#a15c00}\
.counts a{margin-right:1em}.muted{color:#777}form{margin:.8em 0}input,select{font:inherit}";

/// What a page follows live: the fleet, one app, or nothing (the sign-in and error pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live<'a> {
    /// Every app's changes.
    Fleet,
    /// This app's changes.
    App(&'a str),
    /// Nothing.
    Still,
}

/// The live updates, a small enhancement over the server-rendered page: the script subscribes to
/// the API's event stream (`/api/v1/events`, the page's cookie is its read token) and reloads the
/// page once an event that changes what it shows has come (for an app's page, an event of that
/// app), the reader has left the page alone for 3 s and the page is 5 s old. Without the stream
/// (no EventSource, or it broke) the page reloads when left alone for 15 s. It marks
/// `data-stream="open"` on the body while the stream is open.
const LIVE_SCRIPT: &str = "<script>(function(){var b=document.body,app=b.dataset.app,t=Date.now(),\
born=t,dirty=false,open=false;['keydown','mousedown','focusin','input'].forEach(function(e){\
document.addEventListener(e,function(){t=Date.now()},true)});if(window.EventSource){\
var s=new EventSource('/api/v1/events');s.onopen=function(){open=true;b.dataset.stream='open'};\
s.onerror=function(){open=false;b.dataset.stream='closed'};['state_changed','action_applied',\
'action_failed','audit_approved','audit_rejected','settled','held','rollout'].forEach(function(k){\
s.addEventListener(k,function(e){try{var d=JSON.parse(e.data);if(!app||(d.app&&d.app.name===app)){\
dirty=true}}catch(x){}})})}setInterval(function(){var now=Date.now();\
if(document.querySelector('input:focus'))return;if(open?(dirty&&now-t>3000&&now-born>5000):\
(now-t>15000)){location.reload()}},1000)})()</script>";

/// A whole page around `body`, following `live`.
pub fn page(title: &str, live: Live<'_>, body: &str) -> String {
    let (data, script) = match live {
        Live::Fleet => (" data-live=\"fleet\"".to_owned(), LIVE_SCRIPT),
        Live::App(app) => (
            format!(" data-live=\"app\" data-app=\"{}\"", escape(app)),
            LIVE_SCRIPT,
        ),
        Live::Still => (String::new(), ""),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{} · minifleet</title>\
         <style>{STYLE}</style></head><body{data}>{body}{script}</body></html>",
        escape(title)
    )
}

/// What the fleet table shows: a state, a platform, a search over names, appids and labels, a
/// page.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct FleetQuery {
    /// Only apps in this state (`in_sync`, `failed`, `held`…).
    pub state: Option<String>,
    /// Only apps on this platform.
    pub platform: Option<String>,
    /// Only apps whose name, appid or a label contains this.
    pub q: Option<String>,
    /// The page, from 1.
    pub page: Option<usize>,
}

impl FleetQuery {
    /// The query string of this query on another page (or with another state).
    fn link(&self, state: Option<&str>, page: usize) -> String {
        let mut parts = Vec::new();
        if let Some(state) = state.filter(|s| !s.is_empty()) {
            parts.push(format!("state={}", url(state)));
        }
        if let Some(platform) = self.platform.as_deref().filter(|p| !p.is_empty()) {
            parts.push(format!("platform={}", url(platform)));
        }
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            parts.push(format!("q={}", url(q)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{}", parts.join("&"))
        }
    }

    /// Whether `row` (with its app's `labels`) is shown.
    pub fn shows(&self, row: &StatusRow, labels: &str) -> bool {
        let state = self.state.as_deref().filter(|s| !s.is_empty());
        let platform = self.platform.as_deref().filter(|p| !p.is_empty());
        let q = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        state.is_none_or(|s| row.state == s)
            && platform.is_none_or(|p| row.platform == p)
            && q.is_none_or(|q| {
                row.name.to_lowercase().contains(&q)
                    || row.appid.to_lowercase().contains(&q)
                    || labels.to_lowercase().contains(&q)
            })
    }
}

/// One platform's audit quota in words: `wechat: 87 left this month (resets …); 2 granted to
/// passes in flight; 3 kept for new merchants; 2 waiting: shop-a, shop-b`.
pub fn quota_line(view: &crate::engine::ledger::LedgerView) -> String {
    let mut line = format!("{}: {} left this month", view.platform, view.left);
    if let Some(at) = view.resets_at {
        line.push_str(&format!(
            " (resets {})",
            crate::model::calendar::utc(at * 1000)
        ));
    }
    if view.reserved > 0 {
        line.push_str(&format!("; {} granted to passes in flight", view.reserved));
    }
    if view.reserve > 0 {
        line.push_str(&format!("; {} kept for new merchants", view.reserve));
    }
    if !view.waiting.is_empty() {
        let shown: Vec<&str> = view.waiting.iter().take(20).map(String::as_str).collect();
        let more = if view.waiting.len() > shown.len() {
            ", …"
        } else {
            ""
        };
        line.push_str(&format!(
            "; {} waiting: {}{more}",
            view.waiting.len(),
            shown.join(", ")
        ));
    }
    line
}

/// The fleet table: counts per state over the whole fleet (each a filter link), the filter
/// form, one page of the rows the query shows, and the links to the other pages; then each of
/// `sections` (a title and its lines: the rollout's waves, the audit quotas). `labels` are each
/// row's app's labels in words (`region=east tier=gold`).
pub fn fleet_page(
    rows: &[StatusRow],
    labels: &[String],
    query: &FleetQuery,
    sections: &[(&str, Vec<String>)],
) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for row in rows {
        *counts.entry(row.state.as_str()).or_default() += 1;
    }
    let shown: Vec<(&StatusRow, &String)> = rows
        .iter()
        .zip(labels)
        .filter(|(row, labels)| query.shows(row, labels))
        .collect();
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let at = query.page.unwrap_or(1).clamp(1, pages);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>minifleet · {} apps</h1><p class=\"counts\">",
        rows.len()
    );
    let _ = write!(
        body,
        "<a href=\"{}\">all: {}</a>",
        query.link(None, 1),
        rows.len()
    );
    for (state, n) in &counts {
        let _ = write!(
            body,
            "<a class=\"state {s}\" href=\"{}\">{s}: {n}</a>",
            escape(&query.link(Some(state), 1)),
            s = escape(state)
        );
    }
    body.push_str("</p>");
    let mut platforms: Vec<&str> = rows.iter().map(|r| r.platform.as_str()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let options: String = platforms
        .iter()
        .map(|p| {
            let selected = if query.platform.as_deref() == Some(*p) {
                " selected"
            } else {
                ""
            };
            format!("<option{selected}>{}</option>", escape(p))
        })
        .collect();
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/\" role=\"search\">\
         <input type=\"search\" name=\"q\" placeholder=\"name, appid or label\" value=\"{}\" aria-label=\"search\">\
         <select name=\"platform\" aria-label=\"platform\"><option value=\"\">every platform</option>{options}</select>\
         <input type=\"hidden\" name=\"state\" value=\"{}\">\
         <button type=\"submit\" id=\"filter\">filter</button></form>",
        escape(query.q.as_deref().unwrap_or("")),
        escape(query.state.as_deref().unwrap_or("")),
    );
    let _ = write!(
        body,
        "<p class=\"muted\" id=\"shown\">{} shown</p><table id=\"fleet\"><thead><tr><th>app</th><th>platform</th>\
         <th>state</th><th>wanted</th><th>audit</th><th>live</th><th>labels</th><th>why</th></tr></thead><tbody>",
        shown.len()
    );
    for (row, labels) in shown.iter().skip((at - 1) * PAGE_SIZE).take(PAGE_SIZE) {
        let _ = write!(
            body,
            "<tr><td><a href=\"/apps/{}\">{}</a><br><span class=\"muted\">{}</span></td><td>{}</td>\
             <td class=\"state {s}\">{s}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            url(&row.name),
            escape(&row.name),
            escape(&row.appid),
            escape(&row.platform),
            escape(&row.wanted.text()),
            row.audit
                .as_ref()
                .map(audit_text)
                .map(|t| escape(&t))
                .unwrap_or_default(),
            live_from_text(row).map(|t| escape(&t)).unwrap_or_default(),
            escape(labels),
            escape(row.reason.as_deref().unwrap_or("")),
            s = escape(&row.state),
        );
    }
    body.push_str("</tbody></table>");
    if pages > 1 {
        body.push_str("<p>");
        if at > 1 {
            let _ = write!(
                body,
                "<a rel=\"prev\" href=\"{}\">← previous</a> ",
                escape(&query.link(query.state.as_deref(), at - 1))
            );
        }
        let _ = write!(body, "page {at} of {pages}");
        if at < pages {
            let _ = write!(
                body,
                " <a rel=\"next\" href=\"{}\">next →</a>",
                escape(&query.link(query.state.as_deref(), at + 1))
            );
        }
        body.push_str("</p>");
    }
    for (title, lines) in sections.iter().filter(|(_, l)| !l.is_empty()) {
        let _ = write!(
            body,
            "<h2>{}</h2><pre>{}</pre>",
            escape(title),
            escape(&lines.join("\n"))
        );
    }
    page("fleet", Live::Fleet, &body)
}

/// One app's page: its row (wanted vs live, the audit verdict and reason), its plan as `plan`
/// prints it, its newest history as `history` prints it, and its experience QR code.
pub fn app_page(row: &StatusRow, plan: Option<&str>, history: &[String]) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"/\">← fleet</a></p><h1>{} <span class=\"muted\">{} · {}</span></h1>\
         <p class=\"state {s}\" id=\"state\">{s}</p>",
        escape(&row.name),
        escape(&row.platform),
        escape(&row.appid),
        s = escape(&row.state)
    );
    if let Some(reason) = &row.reason {
        let _ = write!(body, "<p id=\"reason\">{}</p>", escape(reason));
    }
    let cell = |text: Option<String>| text.map(|t| escape(&t)).unwrap_or_else(|| "–".to_owned());
    let _ = write!(
        body,
        "<table><tbody><tr><th>wanted</th><td>{}</td></tr><tr><th>experience</th><td>{}</td></tr>\
         <tr><th>audit</th><td id=\"audit\">{}</td></tr><tr><th>live</th><td>{}</td></tr></tbody></table>",
        escape(&row.wanted.text()),
        cell(row.experience.as_ref().map(build_text)),
        cell(row.audit.as_ref().map(|a| match &a.reason {
            Some(reason) => format!("{}: {reason}", audit_text(a)),
            None => audit_text(a),
        })),
        cell(live_from_text(row)),
    );
    if let Some(qr) = row.experience_qr() {
        let _ = write!(
            body,
            "<h2>experience QR code</h2><p id=\"qr\"><a href=\"/apps/{n}/qr\"><img src=\"/apps/{n}/qr\" alt=\"the experience version's QR code\" width=\"160\"></a>\
             <br><span class=\"muted\">also <code>{}</code></span></p>",
            escape(&qr.command),
            n = url(&row.name),
        );
    }
    let _ = write!(
        body,
        "<h2>plan</h2><pre id=\"plan\">{}</pre>",
        escape(plan.unwrap_or("not observed yet"))
    );
    let _ = write!(
        body,
        "<h2>history</h2><pre id=\"history\">{}</pre>",
        escape(&history.join("\n"))
    );
    page(&row.name, Live::App(&row.name), &body)
}

/// The sign-in page: the daemon's read (or admin) token, kept in a cookie.
pub fn login_page(refused: bool) -> String {
    let note = if refused {
        "<p class=\"failed\">That is not one of this daemon's tokens.</p>"
    } else {
        ""
    };
    page(
        "sign in",
        Live::Still,
        &format!(
            "<h1>minifleet</h1>{note}<form method=\"post\" action=\"/login\">\
             <label>token <input type=\"password\" name=\"token\" autocomplete=\"current-password\"></label> \
             <button type=\"submit\">sign in</button></form>\
             <p class=\"muted\">The daemon's read token (<code>watch --read-token</code>) shows everything but secrets.</p>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: &str) -> StatusRow {
        StatusRow {
            name: name.into(),
            appid: format!("wx-{name}"),
            platform: "wechat".into(),
            state: state.into(),
            ..StatusRow::default()
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
        let html = fleet_page(
            &[row("<script>", "failed")],
            &["x=<y>".into()],
            &FleetQuery::default(),
            &[],
        );
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("x=&lt;y&gt;"));
    }

    #[test]
    fn the_fleet_and_an_app_follow_the_event_stream_and_the_sign_in_page_does_not() {
        let fleet = fleet_page(
            &[row("tea-house", "in_sync")],
            &[],
            &FleetQuery::default(),
            &[],
        );
        assert!(fleet.contains("<body data-live=\"fleet\">"));
        assert!(fleet.contains("new EventSource('/api/v1/events')"));
        let app = app_page(&row("a\"<b", "failed"), None, &[]);
        assert!(
            app.contains("<body data-live=\"app\" data-app=\"a&quot;&lt;b\">"),
            "{app}"
        );
        assert!(app.contains("d.app.name===app"));
        let login = login_page(false);
        assert!(login.contains("<body>"));
        assert!(
            !login.contains("<script>"),
            "the sign-in page never reloads"
        );
    }

    #[test]
    fn the_table_counts_the_whole_fleet_and_shows_one_filtered_page() {
        let rows: Vec<StatusRow> = (0..250)
            .map(|i| {
                row(
                    &format!("shop-{i:03}"),
                    if i % 10 == 0 { "failed" } else { "in_sync" },
                )
            })
            .collect();
        let labels: Vec<String> = (0..250)
            .map(|i| format!("region={}", if i < 125 { "east" } else { "west" }))
            .collect();
        let all = fleet_page(&rows, &labels, &FleetQuery::default(), &[]);
        assert!(all.contains("failed: 25") && all.contains("in_sync: 225"));
        assert!(all.contains("page 1 of 3"));
        assert_eq!(all.matches("<tr><td>").count(), PAGE_SIZE);
        let failed = FleetQuery {
            state: Some("failed".into()),
            ..FleetQuery::default()
        };
        let html = fleet_page(&rows, &labels, &failed, &[]);
        assert!(html.contains("25 shown"));
        assert!(!html.contains("page 1 of"), "one page");
        let west = FleetQuery {
            q: Some("WEST".into()),
            page: Some(2),
            ..FleetQuery::default()
        };
        let html = fleet_page(
            &rows,
            &labels,
            &west,
            &[("audit quota", vec!["wechat: 3 left".into()])],
        );
        assert!(html.contains("125 shown") && html.contains("page 2 of 2"));
        assert!(html.contains("shop-225") && !html.contains("shop-124<"));
        assert!(
            html.contains("href=\"/?q=WEST\""),
            "the previous page keeps the search"
        );
    }

    #[test]
    fn the_app_page_has_the_reason_the_plan_and_the_history() {
        let mut r = row("tea-house", "failed");
        r.reason = Some("audit rejected: logo".into());
        r.experience = Some(crate::model::Build::default());
        let html = app_page(
            &r,
            Some("~ tea-house …"),
            &["2026-12-04T00:00:00Z  tea-house  commit ok".into()],
        );
        assert!(html.contains("<p id=\"reason\">audit rejected: logo</p>"));
        assert!(html.contains("<img src=\"/apps/tea-house/qr\""));
        assert!(html.contains("<pre id=\"plan\">~ tea-house …</pre>"));
        assert!(html.contains("commit ok"));
    }
}
