//! A checker of the OpenMetrics text format (what `/metrics` answers), strict enough to fail on
//! a malformed line, a sample without its family's TYPE, a family twice, a sample named off its
//! type, a bad label or escape, a histogram whose buckets do not add up, or a missing `# EOF`.

/// One family as the text declared it.
#[derive(Default)]
struct Family {
    name: String,
    kind: Option<String>,
    help: bool,
    unit: bool,
    /// Whether a sample came: no metadata of this family may follow.
    sampled: bool,
    /// A histogram's series.
    histograms: Vec<Series>,
}

/// One series of a histogram: its labels but `le`, its buckets' bounds and counts, its `_count`.
struct Series {
    labels: String,
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
}

/// Checks `text` line by line (HELP, TYPE and UNIT once per family and before its samples, no
/// family twice, samples named as their family's type wants — a counter's `_total`, a histogram's
/// `_bucket`, `_sum` and `_count` —, labels well formed, escaped and not repeated, numbers as
/// values and nothing after them, histogram buckets ascending and cumulative up to `+Inf`, which
/// equals `_count`, no blank line, `# EOF` last); returns each family's name and type.
pub fn check(text: &str) -> Vec<(String, String)> {
    let body = text
        .strip_suffix("# EOF\n")
        .or_else(|| text.strip_suffix("# EOF"))
        .unwrap_or_else(|| panic!("no `# EOF` at the end:\n{text}"));
    assert!(
        body.is_empty() || body.ends_with('\n'),
        "`# EOF` is not a line of its own"
    );
    let mut families: Vec<Family> = Vec::new();
    for line in body.lines() {
        assert!(!line.is_empty(), "a blank line in:\n{text}");
        match line.strip_prefix("# ") {
            Some(rest) => metadata(&mut families, rest, line),
            None => sample(&mut families, line),
        }
    }
    for family in &families {
        assert!(family.kind.is_some(), "no TYPE for {}", family.name);
        for series in &family.histograms {
            check_buckets(&family.name, series);
        }
    }
    families
        .into_iter()
        .map(|f| (f.name, f.kind.unwrap_or_default()))
        .collect()
}

fn metadata(families: &mut Vec<Family>, rest: &str, line: &str) {
    let mut parts = rest.splitn(3, ' ');
    let keyword = parts.next().unwrap_or_default();
    let name = parts
        .next()
        .unwrap_or_else(|| panic!("no metric name in {line:?}"));
    let value = parts
        .next()
        .unwrap_or_else(|| panic!("nothing after the name in {line:?}"));
    assert!(valid_name(name), "bad metric name in {line:?}");
    let ongoing = families
        .last()
        .is_some_and(|f| f.name == name && !f.sampled);
    if !ongoing {
        assert!(
            !families.iter().any(|f| f.name == name),
            "a second family {name}: {line:?}"
        );
        families.push(Family {
            name: name.to_string(),
            ..Family::default()
        });
    }
    let family = families.last_mut().expect("a family");
    match keyword {
        "HELP" => {
            assert!(!family.help, "second HELP for {name}");
            check_escapes(value, &['\\', 'n', '"'], line);
            family.help = true;
        }
        "TYPE" => {
            assert!(family.kind.is_none(), "second TYPE for {name}");
            let types = [
                "counter",
                "gauge",
                "histogram",
                "gaugehistogram",
                "stateset",
                "info",
                "summary",
                "unknown",
            ];
            assert!(types.contains(&value), "bad type in {line:?}");
            assert!(
                value != "counter" || !name.ends_with("_total"),
                "counter family {name} named with the `_total` its samples add"
            );
            family.kind = Some(value.to_string());
        }
        "UNIT" => {
            assert!(!family.unit, "second UNIT for {name}");
            assert!(
                !value.is_empty() && name.ends_with(&format!("_{value}")),
                "{name} does not end with its unit in {line:?}"
            );
            family.unit = true;
        }
        _ => panic!("unknown comment {line:?}"),
    }
}

fn sample(families: &mut [Family], line: &str) {
    let at = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let (name, after) = line.split_at(at);
    assert!(valid_name(name), "bad sample name in {line:?}");
    let (labels, after) = match after.strip_prefix('{') {
        Some(rest) => parse_labels(rest, line),
        None => (Vec::new(), after),
    };
    let value = after
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
    let number = parse_number(value).unwrap_or_else(|| panic!("bad value in {line:?}"));
    let family = families
        .last_mut()
        .unwrap_or_else(|| panic!("{line:?} before any TYPE"));
    let kind = family
        .kind
        .clone()
        .unwrap_or_else(|| panic!("{line:?} before the TYPE of {}", family.name));
    let suffixes: &[&str] = match kind.as_str() {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_sum", "_count", "_created"],
        "gaugehistogram" => &["_bucket", "_gsum", "_gcount"],
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        _ => &[""],
    };
    let suffix = name
        .strip_prefix(family.name.as_str())
        .filter(|s| suffixes.contains(s))
        .unwrap_or_else(|| panic!("sample {name} outside its family {}", family.name));
    assert!(
        kind != "counter" || number >= 0.0,
        "a negative counter in {line:?}"
    );
    family.sampled = true;
    if kind == "histogram" {
        histogram_sample(family, suffix, &labels, number, line);
    }
}

fn histogram_sample(
    family: &mut Family,
    suffix: &str,
    labels: &[(String, String)],
    number: f64,
    line: &str,
) {
    let series: Vec<String> = labels
        .iter()
        .filter(|(name, _)| name != "le")
        .map(|(name, value)| format!("{name}=\"{value}\""))
        .collect();
    let series = series.join(",");
    let at = match family.histograms.iter().position(|s| s.labels == series) {
        Some(at) => at,
        None => {
            family.histograms.push(Series {
                labels: series,
                buckets: Vec::new(),
                count: None,
            });
            family.histograms.len() - 1
        }
    };
    let Series { buckets, count, .. } = &mut family.histograms[at];
    match suffix {
        "_bucket" => {
            let le = labels
                .iter()
                .find(|(name, _)| name == "le")
                .unwrap_or_else(|| panic!("bucket without `le` in {line:?}"));
            let bound = parse_number(&le.1).unwrap_or_else(|| panic!("bad `le` in {line:?}"));
            buckets.push((bound, number));
        }
        "_count" => *count = Some(number),
        _ => assert!(
            labels.iter().all(|(name, _)| name != "le"),
            "`le` outside a bucket in {line:?}"
        ),
    }
}

fn check_buckets(name: &str, series: &Series) {
    let (buckets, count) = (&series.buckets, series.count);
    let what = format!("{name}{{{}}}", series.labels);
    for pair in buckets.windows(2) {
        assert!(pair[0].0 < pair[1].0, "{what}: buckets not ascending");
        assert!(
            pair[0].1 <= pair[1].1,
            "{what}: bucket counts not cumulative"
        );
    }
    let last = buckets
        .last()
        .unwrap_or_else(|| panic!("{what}: no buckets"));
    assert_eq!(last.0, f64::INFINITY, "{what}: no `+Inf` bucket last");
    assert_eq!(Some(last.1), count, "{what}: `+Inf` bucket is not `_count`");
}

/// Parses `name="value",…}` (what follows `{`): the labels, and what follows `}`.
fn parse_labels<'a>(mut rest: &'a str, line: &str) -> (Vec<(String, String)>, &'a str) {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {line:?}"));
        assert!(
            valid_name(name) && !name.contains(':'),
            "bad label name in {line:?}"
        );
        assert!(
            !labels.iter().any(|(n, _)| n == name),
            "label {name} twice in {line:?}"
        );
        let end = value_end(after, line);
        labels.push((name.to_string(), after[..end].to_string()));
        rest = &after[end + 1..];
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        rest = rest
            .strip_prefix(',')
            .unwrap_or_else(|| panic!("no `,` or `}}` after a label in {line:?}"));
    }
}

/// Where the quoted label value at the start of `after` ends (its closing `"`).
fn value_end(after: &str, line: &str) -> usize {
    let mut escaped = false;
    for (i, c) in after.char_indices() {
        match (escaped, c) {
            (true, '\\' | '"' | 'n') => escaped = false,
            (true, _) => panic!("bad escape in {line:?}"),
            (false, '\\') => escaped = true,
            (false, '"') => return i,
            (false, _) => {}
        }
    }
    panic!("unterminated label value in {line:?}")
}

/// A backslash in `text` only before one of `escapable`.
fn check_escapes(text: &str, escapable: &[char], line: &str) {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next();
            assert!(
                next.is_some_and(|n| escapable.contains(&n)),
                "bad escape in {line:?}"
            );
        }
    }
}

fn parse_number(value: &str) -> Option<f64> {
    match value {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if value.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') => {
            value.parse().ok().filter(|v: &f64| v.is_finite())
        }
        _ => None,
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
