//! The table-test harness: a rule case and the check that its problem is as expected.

use super::*;

/// The last line of the one app in [`BASE`], to append app keys after.
pub(super) const APP_END: &str = "    appid: wx1111111111111111\n";

/// One rule and the problem it must produce.
pub(super) struct Case {
    name: &'static str,
    text: String,
    path: &'static str,
    app: Option<&'static str>,
    at: Option<(usize, usize)>,
    message: &'static str,
    help: Option<&'static str>,
}

/// [`BASE`] with `lines` appended to its app.
pub(super) fn app_with(lines: &str) -> String {
    edit(BASE, &[(APP_END, &format!("{APP_END}{lines}"))])
}

/// [`BASE`] with `lines` appended at the end of the file.
pub(super) fn file_with(lines: &str) -> String {
    format!("{BASE}{lines}")
}

/// A case whose problem has a known position.
#[allow(clippy::too_many_arguments)]
pub(super) fn case(
    name: &'static str,
    text: String,
    path: &'static str,
    app: Option<&'static str>,
    at: (usize, usize),
    message: &'static str,
    help: Option<&'static str>,
) -> Case {
    Case {
        name,
        text,
        path,
        app,
        at: Some(at),
        message,
        help,
    }
}

pub(super) const TEA: Option<&str> = Some("tea-house");

pub(super) fn check(c: &Case) {
    let errors = match load_both(&c.text) {
        Ok(_) => panic!("case `{}`: expected problems", c.name),
        Err(e) => e.errors,
    };
    let e = problem_at(&errors, c.path);
    let ctx = format!("case `{}`: {e:#?}", c.name);
    assert_eq!(e.message, c.message, "{ctx}");
    assert_eq!(e.app.as_deref(), c.app, "{ctx}");
    assert_eq!(e.line_col, c.at, "{ctx}");
    if let Some(help) = c.help {
        assert!(e.help.as_deref().is_some_and(|h| h.contains(help)), "{ctx}");
    }
}
