//! Credentials, method and body checks, and persistence of the simulator, through [`Sim::call`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::super::*;
use super::{APP, spec};

fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Mints an authorizer token for `appid` through the component API, as a client does.
fn authorizer_token(sim: &Sim, appid: &str) -> String {
    let ticket = sim.issue_ticket("wxcomponent");
    let body = json!({"component_appid": "wxcomponent", "component_appsecret": "s",
                      "component_verify_ticket": ticket});
    let reply = sim.call(
        Method::Post,
        "/cgi-bin/component/api_component_token",
        &BTreeMap::new(),
        body.to_string().as_bytes(),
    );
    let ct = reply.body["component_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = sim.authorize(appid);
    let body = json!({"component_appid": "wxcomponent", "authorizer_appid": appid,
                      "authorizer_refresh_token": refresh});
    let reply = sim.call(
        Method::Post,
        "/cgi-bin/component/api_authorizer_token",
        &query(&[("component_access_token", &ct)]),
        body.to_string().as_bytes(),
    );
    assert_eq!(reply.body["authorizer_refresh_token"], refresh.as_str());
    reply.body["authorizer_access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn component_token_needs_an_issued_ticket() {
    let sim = Sim::memory(&spec());
    let mint = |ticket: &str| {
        let body = json!({"component_appid": "wxcomponent", "component_appsecret": "s",
                          "component_verify_ticket": ticket});
        let path = "cgi-bin/component/api_component_token";
        sim.call(
            Method::Post,
            path,
            &BTreeMap::new(),
            body.to_string().as_bytes(),
        )
    };
    assert_eq!(mint("made-up").errcode(), 61006);
    let other = sim.issue_ticket("wxother");
    assert_eq!(mint(&other).errcode(), 61006);
    let ticket = sim.issue_ticket("wxcomponent");
    let reply = mint(&ticket);
    assert_eq!(reply.errcode(), 0);
    assert_eq!(reply.body["expires_in"], 7200);
    let ct = reply.body["component_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"component_appid": "wxcomponent", "authorizer_appid": APP,
                      "authorizer_refresh_token": "stolen"});
    let path = "cgi-bin/component/api_authorizer_token";
    let refresh = |q: &BTreeMap<String, String>| {
        sim.call(Method::Post, path, q, body.to_string().as_bytes())
            .errcode()
    };
    assert_eq!(refresh(&BTreeMap::new()), 41001);
    assert_eq!(
        refresh(&query(&[("component_access_token", "nope")])),
        40001
    );
    sim.authorize(APP);
    assert_eq!(refresh(&query(&[("component_access_token", &ct)])), 61023);
    assert_eq!(sim.call_count("cgi-bin/component/api_component_token"), 3);
}

#[test]
fn authorize_is_idempotent() {
    let sim = Sim::memory(&spec());
    let first = sim.authorize(APP);
    assert_eq!(sim.authorize(APP), first);
    assert_ne!(sim.authorize("wx2222222222222222"), first);
}

#[test]
fn wxa_calls_check_the_authorizer_token() {
    let sim = Sim::memory(&spec());
    let token = authorizer_token(&sim, APP);
    let path = "/wxa/get_latest_auditstatus";
    let call = |q: BTreeMap<String, String>| sim.call(Method::Get, path, &q, b"").errcode();
    assert_eq!(call(BTreeMap::new()), 41001);
    assert_eq!(call(query(&[("access_token", "")])), 41001);
    assert_eq!(call(query(&[("access_token", "forged")])), 40001);
    assert_eq!(call(query(&[("access_token", &token)])), 85058);
    sim.expire_authorizer_tokens(APP);
    assert_eq!(call(query(&[("access_token", &token)])), 42001);
    // a short TTL expires by itself
    sim.set_token_ttl(Duration::from_millis(200));
    let short = authorizer_token(&sim, APP);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(call(query(&[("access_token", &short)])), 42001);
    assert_eq!(sim.call_count("wxa/get_latest_auditstatus"), 6);
}

#[test]
fn the_token_identifies_the_app() {
    let sim = Sim::memory(&spec());
    let token_a = authorizer_token(&sim, APP);
    let ext_json = json!({"extAppid": APP}).to_string();
    let body = json!({"template_id": 1, "ext_json": ext_json, "user_version": "1.0.0"});
    let q = query(&[("access_token", &token_a)]);
    let reply = sim.call(Method::Post, "wxa/commit", &q, body.to_string().as_bytes());
    assert_eq!(reply.errcode(), 0);
    assert!(sim.app_state(APP).unwrap().experience.is_some());
    let token_b = authorizer_token(&sim, "wx2222222222222222");
    let q = query(&[("access_token", &token_b)]);
    let reply = sim.call(Method::Post, "wxa/commit", &q, body.to_string().as_bytes());
    assert_eq!(reply.errcode(), 85013, "extAppid names the other app");
}

#[test]
fn methods_and_bodies_are_checked() {
    let sim = Sim::memory(&spec());
    let token = authorizer_token(&sim, APP);
    let q = query(&[("access_token", &token)]);
    let call = |m: Method, path: &str, body: &[u8]| sim.call(m, path, &q, body).errcode();
    assert_eq!(
        call(Method::Post, "wxa/security/get_code_privacy_info", b"{}"),
        43001
    );
    assert_eq!(call(Method::Get, "wxa/commit", b""), 43002);
    assert_eq!(call(Method::Post, "wxa/release", b""), 44002);
    assert_eq!(call(Method::Post, "wxa/getversioninfo", b"  "), 44002);
    assert_eq!(call(Method::Post, "wxa/release", b"{not json"), 47001);
    assert_eq!(call(Method::Post, "wxa/getversioninfo", b"{}"), 0);
    let missing = sim.call(Method::Get, "wxa/nope", &q, b"");
    assert_eq!((missing.status, missing.errcode()), (404, 40066));
}

#[test]
fn query_auth_exchanges_an_authorization_code_once() {
    let sim = Sim::memory(&spec());
    let ticket = sim.issue_ticket("wxcomponent");
    let body = json!({"component_appid": "wxcomponent", "component_verify_ticket": ticket});
    let empty = BTreeMap::new();
    let reply = sim.call(
        Method::Post,
        "cgi-bin/component/api_component_token",
        &empty,
        body.to_string().as_bytes(),
    );
    let ct = reply.body["component_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let q = query(&[("component_access_token", &ct)]);
    let pre = sim.call(
        Method::Post,
        "cgi-bin/component/api_create_preauthcode",
        &q,
        b"{}",
    );
    assert!(pre.body["pre_auth_code"].as_str().is_some());
    let code = sim.authorization_code(APP);
    let body = json!({"component_appid": "wxcomponent", "authorization_code": code});
    let path = "cgi-bin/component/api_query_auth";
    let reply = sim.call(Method::Post, path, &q, body.to_string().as_bytes());
    let info = &reply.body["authorization_info"];
    assert_eq!(info["authorizer_appid"], APP);
    assert_eq!(
        info["authorizer_refresh_token"],
        sim.authorize(APP).as_str()
    );
    assert_eq!(info["func_info"][0]["funcscope_category"]["id"], 18);
    let again = sim.call(Method::Post, path, &q, body.to_string().as_bytes());
    assert_eq!(again.errcode(), 61010);
    let body = json!({"component_appid": "wxcomponent", "authorizer_appid": APP});
    let path = "cgi-bin/component/api_get_authorizer_info";
    let info = sim.call(Method::Post, path, &q, body.to_string().as_bytes());
    assert_eq!(
        info.body["authorization_info"]["authorizer_refresh_token"],
        sim.authorize(APP).as_str()
    );
    let body = json!({"component_appid": "wxcomponent", "offset": 0, "count": 10});
    let path = "cgi-bin/component/api_get_authorizer_list";
    let list = sim.call(Method::Post, path, &q, body.to_string().as_bytes());
    assert_eq!(list.body["total_count"], 1);
}

#[test]
fn state_survives_a_restart_on_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (token, refresh) = {
        let sim = Sim::new(&spec(), Persist::Store(store.clone())).unwrap();
        let token = authorizer_token(&sim, APP);
        let q = query(&[("access_token", &token)]);
        let bind = json!({"wechatid": "ops-li"}).to_string();
        assert_eq!(
            sim.call(Method::Post, "wxa/bind_tester", &q, bind.as_bytes())
                .errcode(),
            0
        );
        let ext_json = json!({"extAppid": APP}).to_string();
        let body = json!({"template_id": 7, "ext_json": ext_json, "user_version": "3.0.0"});
        sim.call(Method::Post, "wxa/commit", &q, body.to_string().as_bytes());
        (token, sim.authorize(APP))
    };
    let sim = Sim::new(&spec(), Persist::Store(store)).unwrap();
    assert_eq!(sim.authorize(APP), refresh);
    let app = sim.app_state(APP).unwrap();
    assert_eq!(app.experience.unwrap().user_version, "3.0.0");
    assert_eq!(app.testers.len(), 1);
    let q = query(&[("access_token", &token)]);
    let info = sim.call(Method::Post, "wxa/getversioninfo", &q, b"{}");
    assert_eq!(
        info.body["exp_info"]["exp_version"], "3.0.0",
        "tokens survive too"
    );
    // the userstr secret survives: binding again is "already bound"
    let bind = json!({"wechatid": "ops-li"}).to_string();
    assert_eq!(
        sim.call(Method::Post, "wxa/bind_tester", &q, bind.as_bytes())
            .errcode(),
        85004
    );
}
