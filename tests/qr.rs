//! End to end, `minifleet qr` (issue 16): the experience version's QR code from each platform,
//! the real binary against a standalone sandbox on loopback. WeChat answers an image, written to
//! a file; Alipay and Douyin answer a URL, printed. `status -o json` says where to get it.

mod common;

use common::{App, code, fleet_on_sandbox, text};

const WX: &str = "wx1111111111111111";
const ALI: &str = "2021000000000001";
const TT: &str = "tt0123456789abcdef";

#[test]
fn each_platform_gives_the_experience_qr_code_its_way() {
    let (_sandbox, fleet) = fleet_on_sandbox();
    fleet.write(&[
        App {
            stage: "experience",
            ..App::new("tea", WX)
        },
        App {
            stage: "experience",
            ..App::alipay("rice", ALI)
        },
        App {
            stage: "experience",
            ..App::douyin("noodle", TT)
        },
    ]);

    // Before a commit WeChat has no experience version: the error names the app and what to do.
    let out = fleet.run(&["qr", "tea"]);
    let all = text(&out);
    assert_eq!(code(&out), 1, "{all}");
    assert!(all.contains("app `tea`"), "{all}");
    assert!(all.contains("85086"), "{all}");
    assert!(all.contains("commit the code first"), "{all}");

    fleet.converge();
    let image = fleet.dir().join("tea.jpg");
    let out = fleet.run(&[
        "qr",
        "tea",
        "--path",
        "pages/menu/index?table=3",
        "--out",
        image.to_str().unwrap(),
    ]);
    let all = text(&out);
    assert_eq!(code(&out), 0, "{all}");
    assert!(all.contains("image/jpeg"), "{all}");
    let bytes = std::fs::read(&image).expect("the image was written");
    assert_eq!(bytes[..2], [0xFF, 0xD8], "a JPEG starts with SOI");
    assert_eq!(bytes[bytes.len() - 2..], [0xFF, 0xD9], "and ends with EOI");
    let inside = String::from_utf8_lossy(&bytes);
    assert!(
        inside.contains("pages/menu/index?table=3"),
        "the page reached WeChat: {inside}"
    );

    let out = fleet.run(&["qr", "rice"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let url = String::from_utf8_lossy(&out.stdout);
    assert!(url.trim().starts_with("https://"), "{url}");
    assert!(url.contains("v=1.0.0"), "the wanted version's: {url}");
    let out = fleet.run(&["qr", "rice", "--path", "pages/a"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("takes no page"), "{}", text(&out));

    let out = fleet.run(&["-o", "json", "qr", "noodle", "--path", "/pages/a?b=1"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answer["app"], "noodle");
    let url = answer["url"].as_str().unwrap();
    assert!(url.contains("path=pages/a?b=1"), "no leading slash: {url}");

    let out = fleet.run(&["qr", "te"]);
    assert_eq!(code(&out), 1);
    assert!(text(&out).contains("did you mean `tea`?"), "{}", text(&out));

    let status = fleet.status_json();
    let row = common::app_plan(&status, "tea");
    assert_eq!(row["experience_qr"]["command"], "minifleet qr tea", "{row}");
    assert_eq!(row["experience_qr"]["api"], "/api/v1/apps/tea/qr", "{row}");
}
