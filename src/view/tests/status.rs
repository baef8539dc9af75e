//! Status rows in words: a full release is not a gray, the stage shows, the audit has a column.

use crate::model::{Audit, AuditStatus, Build, Live, Stage};
use crate::view::status::{StatusRow, Wanted, table};

fn build(version: &str, fp: &str) -> Build {
    Build {
        version: version.into(),
        fingerprint: Some(fp.into()),
        description: String::new(),
    }
}

fn wanted(stage: Stage, gray: u8) -> Wanted {
    Wanted {
        version: "1.5.0".into(),
        fingerprint: "1a2b3c4d".into(),
        stage,
        gray,
    }
}

#[test]
fn wanted_says_the_gray_only_below_100_and_the_stage_before_release() {
    assert_eq!(wanted(Stage::Release, 100).text(), "1.5.0 [mf:1a2b3c4d]");
    assert_eq!(
        wanted(Stage::Release, 10).text(),
        "1.5.0 [mf:1a2b3c4d] gray 10%"
    );
    assert_eq!(
        wanted(Stage::Audit, 100).text(),
        "1.5.0 [mf:1a2b3c4d] (stage audit)"
    );
    assert_eq!(
        wanted(Stage::Experience, 10).text(),
        "1.5.0 [mf:1a2b3c4d] (stage experience)"
    );
}

#[test]
fn the_table_has_an_audit_column_and_live_gray_only_while_graying() {
    let full = StatusRow {
        name: "tea-house".into(),
        platform: "wechat".into(),
        wanted: wanted(Stage::Release, 100),
        live: Some(Live {
            build: build("1.5.0", "1a2b3c4d"),
            gray: None,
        }),
        state: "in_sync".into(),
        observed_at_ms: Some(1_000),
        ..StatusRow::default()
    };
    let audit_only = StatusRow {
        name: "hotpot-garden".into(),
        platform: "wechat".into(),
        wanted: wanted(Stage::Audit, 100),
        audit: Some(Audit {
            id: "7".into(),
            build: build("1.5.0", "1a2b3c4d"),
            status: AuditStatus::Approved,
            reason: None,
        }),
        state: "in_sync".into(),
        ..StatusRow::default()
    };
    let text = table(&[full, audit_only], 61_000);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("APP") && lines[0].contains("AUDIT"),
        "{text}"
    );
    assert!(!text.contains("gray 100%"), "{text}");
    assert!(lines[1].contains("1m ago"), "{text}");
    assert!(lines[2].contains("(stage audit)"), "{text}");
    assert!(lines[2].contains("approved 1.5.0 [mf:1a2b3c4d]"), "{text}");
    assert!(lines[2].ends_with("never"), "{text}");
}
