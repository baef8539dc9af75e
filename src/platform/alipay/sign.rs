//! Alipay RSA2 (SHA256withRSA, PKCS#1 v1.5) request signing and response verification, per
//! spec/alipay.md §1.4–1.5: keys in any form Alipay's tools emit, the sign content, and the signed
//! node of a response, cut from the raw body and verified before anything in it is trusted.
//!
//! Nothing here parses by hand: PEM armour is read by the `pem` crate, the key's DER by aws-lc
//! (PKCS#8 and PKCS#1 private keys, SPKI and PKCS#1 public keys: each form is tried, and a key
//! of the other kind is named), and the response by serde_json, whose `RawValue` gives the
//! node's text exactly as received — the bytes the signature covers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The node legacy gateway failures answer with instead of the method's own node.
pub const ERROR_NODE: &str = "error_response";

/// Why a key cannot be used or a response cannot be trusted. Messages never hold key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The key text is not a usable RSA key; says why.
    #[error("invalid rsa key: {0}")]
    BadKey(String),
    /// The signature is not base64, or does not verify over the content.
    #[error("rsa2 signature does not verify")]
    BadSignature,
    /// The response has neither the method's node nor `error_response`.
    #[error("response has no `{0}` node (nor `error_response`)")]
    MissingNode(String),
    /// The response body is not a JSON object, or its `sign` is not a string.
    #[error("response body is malformed: {0}")]
    MalformedBody(String),
    /// The node's key appears again after the extracted object (a spoofing attempt).
    #[error("response repeats the `{0}` node after the signed object")]
    RepeatedNode(String),
    /// The response reports success (`code` 10000) but carries no signature.
    #[error("response `{0}` reports success (code 10000) without a signature")]
    UnsignedSuccess(String),
}

impl SignError {
    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            SignError::BadKey(_) => {
                "give an unencrypted rsa key of 2048 bits or more: PEM (`BEGIN RSA PRIVATE KEY`, `BEGIN PRIVATE KEY`, `BEGIN PUBLIC KEY`) or the bare base64 of its DER"
            }
            SignError::BadSignature => {
                "check `platforms.alipay.alipay_public_key`: it must be Alipay's current public key from the console (not the app's own public key), for the same environment"
            }
            SignError::MissingNode(_) | SignError::MalformedBody(_) => {
                "this is not an Alipay gateway answer to that method: check the gateway URL"
            }
            SignError::RepeatedNode(_) | SignError::UnsignedSuccess(_) => {
                "the response may have been tampered with; nothing in it was trusted"
            }
        }
    }
}

/// An app private key that signs requests. Cheap to clone; `Debug` prints `PrivateKey(***)`.
#[derive(Clone)]
pub struct PrivateKey(Arc<RsaKeyPair>);

impl PrivateKey {
    /// Parses a PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`) PEM, or the bare
    /// base64 of either DER; aws-lc tries each form, whitespace is ignored.
    pub fn parse(text: &str) -> Result<PrivateKey, SignError> {
        let der = decode_key_text(text, &["RSA PRIVATE KEY", "PRIVATE KEY"])?;
        let pair = RsaKeyPair::from_pkcs8(&der)
            .or_else(|pkcs8| RsaKeyPair::from_der(&der).map_err(|pkcs1| (pkcs8, pkcs1)));
        match pair {
            Ok(pair) => Ok(PrivateKey(Arc::new(pair))),
            Err(_) if PublicKey::from_der(&der).is_ok() => Err(bad_key(
                "this is a public key; the app private key is needed",
            )),
            Err((pkcs8, pkcs1)) => Err(bad_key(&format!(
                "not a pkcs#1 or pkcs#8 rsa private key (pkcs#8: {pkcs8}; pkcs#1: {pkcs1})"
            ))),
        }
    }

    /// Signs `content` (UTF-8) with SHA256withRSA; returns standard base64 without line breaks.
    ///
    /// # Panics
    ///
    /// Only if aws-lc fails to sign with a key it has already validated.
    pub fn sign(&self, content: &str) -> String {
        let mut signature = vec![0; self.0.public_modulus_len()];
        let rng = SystemRandom::new();
        self.0
            .sign(&RSA_PKCS1_SHA256, &rng, content.as_bytes(), &mut signature)
            .expect("rsa pkcs#1 v1.5 signing with a validated key does not fail");
        STANDARD.encode(signature)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

/// A public key that verifies signatures (for responses: Alipay's public key).
#[derive(Clone)]
pub struct PublicKey(ParsedPublicKey);

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), a PKCS#1 PEM (`BEGIN RSA PUBLIC
    /// KEY`), or the bare base64 of either DER; whitespace is ignored.
    pub fn parse(text: &str) -> Result<PublicKey, SignError> {
        let der = decode_key_text(text, &["PUBLIC KEY", "RSA PUBLIC KEY"])?;
        PublicKey::from_der(&der).map_err(|err| {
            let private =
                RsaKeyPair::from_pkcs8(&der).is_ok() || RsaKeyPair::from_der(&der).is_ok();
            if private {
                bad_key("this is a private key; give the public key")
            } else {
                err
            }
        })
    }

    /// From SPKI or PKCS#1 DER (aws-lc reads both).
    fn from_der(der: &[u8]) -> Result<PublicKey, SignError> {
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .map(PublicKey)
            .map_err(|err| bad_key(&format!("the rsa parser rejected it ({err})")))
    }

    /// Checks that `sign_b64` (standard base64) is a SHA256withRSA signature of `content` (UTF-8).
    pub fn verify(&self, content: &str, sign_b64: &str) -> Result<(), SignError> {
        let signature = STANDARD
            .decode(sign_b64)
            .map_err(|_| SignError::BadSignature)?;
        self.0
            .verify_sig(content.as_bytes(), &signature)
            .map_err(|_| SignError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(rsa)")
    }
}

/// A fresh 2048-bit key pair for the sandbox: the private key, its PKCS#8 PEM, the public key and
/// its SPKI PEM.
///
/// # Panics
///
/// Only if aws-lc cannot generate or encode an RSA key.
pub fn generate_keypair() -> (PrivateKey, String, PublicKey, String) {
    try_generate_keypair().expect("aws-lc generates and encodes 2048-bit rsa keys")
}

/// [`generate_keypair`], with aws-lc's failures passed up.
fn try_generate_keypair() -> Result<(PrivateKey, String, PublicKey, String), Unspecified> {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048)?;
    let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&pair)?;
    let spki = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())?;
    let public = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki.as_ref())?;
    Ok((
        PrivateKey(Arc::new(pair)),
        pem("PRIVATE KEY", pkcs8.as_ref()),
        PublicKey(public),
        pem("PUBLIC KEY", spki.as_ref()),
    ))
}

/// PEM armour around `der`, 64 base64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn bad_key(reason: &str) -> SignError {
    SignError::BadKey(reason.to_owned())
}

/// The DER inside `text`: a PEM block with one of `labels` (read by the `pem` crate), or bare
/// base64 (whitespace ignored).
fn decode_key_text(text: &str, labels: &[&str]) -> Result<Vec<u8>, SignError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN ") {
        let block = pem::parse(text).map_err(|err| match err {
            pem::PemError::MissingEndTag | pem::PemError::MalformedFraming => {
                bad_key("the pem block has no `-----END …-----` line")
            }
            pem::PemError::MismatchedTags(begin, end) => {
                bad_key(&format!("the pem block begins `{begin}` and ends `{end}`"))
            }
            pem::PemError::InvalidHeader(_) => {
                bad_key("pem headers (an encrypted key?) are not supported")
            }
            pem::PemError::InvalidData(_) => bad_key("the pem body is not valid base64"),
            pem::PemError::MissingData => bad_key("the key is empty"),
            other => bad_key(&format!("not a pem block ({other})")),
        })?;
        if !labels.contains(&block.tag()) {
            let expected = labels.join("` or `");
            return Err(bad_key(&format!(
                "a pem `{}` block was given where `{expected}` was expected",
                block.tag()
            )));
        }
        if block.headers().iter().next().is_some() {
            return Err(bad_key("pem headers (an encrypted key?) are not supported"));
        }
        if block.contents().is_empty() {
            return Err(bad_key("the key is empty"));
        }
        return Ok(block.into_contents());
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(bad_key("the key is empty"));
    }
    STANDARD
        .decode(compact)
        .map_err(|_| bad_key("the key is not valid base64"))
}

/// The sign content of a request: every param but `sign` and those with an empty key or value,
/// sorted by key in byte order, joined as `k=v` with `&`, values raw (not URL-encoded).
pub fn sign_content(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(key, value)| !key.is_empty() && !value.is_empty() && key.as_str() != "sign")
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The response node's key for `method`: `alipay.open.mini.version.upload` →
/// `alipay_open_mini_version_upload_response`.
pub fn response_node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// The raw text of the object under the top-level key `node` (falling back to `error_response`),
/// from its `{` to the matching `}`, exactly as in `body`: the bytes the signature covers.
pub fn signed_response_node<'a>(body: &'a str, node: &str) -> Option<&'a str> {
    let members = members(body).ok()?;
    locate_node(&members, node).map(|(_, index)| members[index].1.get())
}

/// The top-level members of the JSON object `body`, in order, each value's text exactly as
/// received (serde_json's `RawValue`); duplicate keys are all kept.
fn members(body: &str) -> Result<Vec<(String, &RawValue)>, SignError> {
    serde_json::from_str::<Members<'_>>(body)
        .map(|m| m.0)
        .map_err(|err| SignError::MalformedBody(format!("not a json object ({err})")))
}

/// [`members`]' deserializer: a map visited entry by entry, so no duplicate is lost.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a json object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The key that matched (`node` or [`ERROR_NODE`]) and the index of the first member of that
/// name whose value is an object.
fn locate_node<'k>(members: &[(String, &RawValue)], node: &'k str) -> Option<(&'k str, usize)> {
    let object = |key: &str| {
        members
            .iter()
            .position(|(name, value)| name == key && value.get().starts_with('{'))
    };
    object(node)
        .map(|index| (node, index))
        .or_else(|| object(ERROR_NODE).map(|index| (ERROR_NODE, index)))
}

/// The response's `sign` (a sibling of the node), if present and not empty.
pub fn response_sign(body: &str) -> Option<String> {
    parse_sign(body).ok().flatten()
}

/// `sign` from the body parsed as a JSON object; an absent, null or empty `sign` is `None`.
fn parse_sign(body: &str) -> Result<Option<String>, SignError> {
    sign_of(&members(body)?)
}

/// The `sign` member of `members` (the last, should it repeat, as a JSON object reads).
fn sign_of(members: &[(String, &RawValue)]) -> Result<Option<String>, SignError> {
    let Some((_, raw)) = members.iter().rev().find(|(name, _)| name == "sign") else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::String(sign)) if sign.is_empty() => Ok(None),
        Ok(Value::String(sign)) => Ok(Some(sign)),
        _ => Err(SignError::MalformedBody(
            "`sign` is not a string".to_owned(),
        )),
    }
}

/// A response node that passed [`verify_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedResponse<'a> {
    /// The node's raw JSON object text, as received.
    pub node_text: &'a str,
    /// Whether a valid signature covered it. An unsigned node is always a failure (an unsigned
    /// success is rejected): classify it, never trust it for state.
    pub signed: bool,
}

/// Cuts the node of `method` (or `error_response`) out of `body` and checks its signature against
/// Alipay's public `key`. A signed node must verify (retrying once with `\/` read as `/`, as the
/// Java SDK does); an unsigned one is returned flagged unless it claims success. A body repeating
/// the node's key after the object is rejected.
pub fn verify_response<'a>(
    body: &'a str,
    method: &str,
    key: &PublicKey,
) -> Result<VerifiedResponse<'a>, SignError> {
    let node = response_node_name(method);
    let members = members(body)?;
    let sign = sign_of(&members)?;
    let (name, index) =
        locate_node(&members, &node).ok_or_else(|| SignError::MissingNode(node.clone()))?;
    if members[index + 1..].iter().any(|(other, _)| other == name) {
        return Err(SignError::RepeatedNode(name.to_owned()));
    }
    let node_text = members[index].1.get();
    match sign {
        Some(sign) => {
            verify_node(key, node_text, &sign)?;
            Ok(VerifiedResponse {
                node_text,
                signed: true,
            })
        }
        None if is_success(node_text) => Err(SignError::UnsignedSuccess(name.to_owned())),
        None => Ok(VerifiedResponse {
            node_text,
            signed: false,
        }),
    }
}

/// Verifies the node text as received, then once more with `\/` unescaped to `/`.
fn verify_node(key: &PublicKey, node_text: &str, sign: &str) -> Result<(), SignError> {
    key.verify(node_text, sign).or_else(|err| {
        if node_text.contains("\\/") {
            key.verify(&node_text.replace("\\/", "/"), sign)
        } else {
            Err(err)
        }
    })
}

/// Whether a node's `code` is 10000 (as a string or, defensively, a number).
fn is_success(node_text: &str) -> bool {
    let Ok(node) = serde_json::from_str::<Map<String, Value>>(node_text) else {
        return false;
    };
    match node.get("code") {
        Some(Value::String(code)) => code.trim() == "10000",
        Some(Value::Number(code)) => code.as_u64() == Some(10000),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture from tests/fixtures/alipay/ (made by openssl; see its README).
    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/alipay/",
                $name
            ))
        };
    }

    const UPLOAD: &str = "alipay.open.mini.version.upload";

    fn request_params() -> BTreeMap<String, String> {
        serde_json::from_str(fixture!("request_params.json")).unwrap()
    }

    fn alipay_public() -> PublicKey {
        PublicKey::parse(fixture!("alipay_public.pem")).unwrap()
    }

    fn bad_key_reason(result: Result<impl fmt::Debug, SignError>) -> String {
        match result {
            Err(SignError::BadKey(reason)) => reason,
            other => panic!("expected BadKey, got {other:?}"),
        }
    }

    #[test]
    fn sign_content_matches_the_hand_written_vector() {
        assert_eq!(
            sign_content(&request_params()),
            fixture!("request_sign_content.txt")
        );
    }

    #[test]
    fn sign_content_sorts_by_bytes_and_drops_sign_and_empties() {
        let params: BTreeMap<String, String> = [
            ("b", "2"),
            ("B", "upper"),
            ("a", "x=1&y=中"),
            ("sign", "s"),
            ("empty", ""),
            ("", "no-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(sign_content(&params), "B=upper&a=x=1&y=中&b=2");
    }

    #[test]
    fn every_private_key_form_signs_like_openssl() {
        let expected = fixture!("request_sign.txt").trim();
        let content = fixture!("request_sign_content.txt");
        let forms = [
            fixture!("app_private_pkcs1.pem"),
            fixture!("app_private_pkcs8.pem"),
            fixture!("app_private_pkcs1.b64"),
            fixture!("app_private_pkcs8.b64"),
        ];
        for form in forms {
            let key = PrivateKey::parse(form).unwrap();
            assert_eq!(key.sign(content), expected);
        }
        assert_eq!(
            expected.len(),
            344,
            "2048-bit signatures are 344 base64 chars"
        );
    }

    #[test]
    fn private_key_parse_ignores_whitespace_and_crlf() {
        let mangled = fixture!("app_private_pkcs8.pem")
            .replace('\n', "\r\n   ")
            .replace("-----\r\n   ", "-----\r\n");
        let bare_wrapped: String = fixture!("app_private_pkcs1.b64")
            .as_bytes()
            .chunks(76)
            .map(|chunk| format!("  {}\n", std::str::from_utf8(chunk).unwrap()))
            .collect();
        let expected = fixture!("request_sign.txt").trim();
        let content = fixture!("request_sign_content.txt");
        for text in [mangled.as_str(), bare_wrapped.as_str()] {
            assert_eq!(PrivateKey::parse(text).unwrap().sign(content), expected);
        }
    }

    #[test]
    fn every_public_key_form_verifies_the_openssl_signature() {
        let signature = fixture!("request_sign.txt").trim();
        let content = fixture!("request_sign_content.txt");
        let forms = [
            fixture!("app_public.pem"),
            fixture!("app_public.b64"),
            fixture!("app_public_pkcs1.pem"),
        ];
        for form in forms {
            let key = PublicKey::parse(form).unwrap();
            assert_eq!(key.verify(content, signature), Ok(()));
            let tampered = content.replace("1.2.3", "1.2.4");
            assert_eq!(
                key.verify(&tampered, signature),
                Err(SignError::BadSignature)
            );
        }
        let other = alipay_public();
        assert_eq!(
            other.verify(content, signature),
            Err(SignError::BadSignature)
        );
        let key = PublicKey::parse(fixture!("app_public.pem")).unwrap();
        assert_eq!(
            key.verify(content, "not base64!"),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn wrong_kinds_of_key_are_rejected_with_a_reason() {
        let public_as_private = bad_key_reason(PrivateKey::parse(fixture!("app_public.b64")));
        assert!(
            public_as_private.contains("public key"),
            "{public_as_private}"
        );
        let pem_label = bad_key_reason(PrivateKey::parse(fixture!("app_public.pem")));
        assert!(pem_label.contains("`PUBLIC KEY`"), "{pem_label}");
        let private_as_public = bad_key_reason(PublicKey::parse(fixture!("app_private_pkcs8.b64")));
        assert!(
            private_as_public.contains("private key"),
            "{private_as_public}"
        );
        let ec = bad_key_reason(PublicKey::parse(fixture!("ec_public.pem")));
        assert!(ec.contains("rejected"), "{ec}");
    }

    #[test]
    fn malformed_key_texts_are_rejected() {
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----";
        assert!(bad_key_reason(PrivateKey::parse(encrypted)).contains("ENCRYPTED PRIVATE KEY"));
        let with_headers = fixture!("app_private_pkcs1.pem").replace(
            "-----BEGIN RSA PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n",
        );
        assert!(bad_key_reason(PrivateKey::parse(&with_headers)).contains("encrypted"));
        let truncated = &fixture!("app_private_pkcs8.pem")[..600];
        assert!(bad_key_reason(PrivateKey::parse(truncated)).contains("END"));
        assert!(bad_key_reason(PrivateKey::parse("")).contains("empty"));
        assert!(bad_key_reason(PrivateKey::parse("not*base64")).contains("base64"));
        let half = &fixture!("app_private_pkcs8.b64")[..800];
        assert!(bad_key_reason(PrivateKey::parse(half)).contains("pkcs"));
    }

    #[test]
    fn errors_and_debug_never_show_key_material() {
        let key = PrivateKey::parse(fixture!("app_private_pkcs8.pem")).unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKey(***)");
        let b64 = fixture!("app_private_pkcs8.b64");
        let broken = format!("{}!{}", &b64[..900], &b64[901..]);
        let err = PrivateKey::parse(&broken).unwrap_err();
        let shown = format!("{err} {err:?} {}", err.help());
        assert!(!shown.contains(&b64[100..120]), "{shown}");
        assert!(shown.starts_with("invalid rsa key: "), "{shown}");
    }

    #[test]
    fn openssl_signed_response_verifies_over_the_exact_node() {
        let verified =
            verify_response(fixture!("response_signed.json"), UPLOAD, &alipay_public()).unwrap();
        assert_eq!(verified.node_text, fixture!("response_node.txt"));
        assert!(verified.signed);
    }

    #[test]
    fn a_tampered_node_or_the_wrong_key_is_rejected() {
        let body = fixture!("response_signed.json");
        let tampered = body.replacen(r#""create_status":"6""#, r#""create_status":"5""#, 1);
        assert_ne!(tampered, body);
        assert_eq!(
            verify_response(&tampered, UPLOAD, &alipay_public()),
            Err(SignError::BadSignature)
        );
        let app_key = PublicKey::parse(fixture!("app_public.pem")).unwrap();
        assert_eq!(
            verify_response(body, UPLOAD, &app_key),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn an_unsigned_error_is_returned_flagged_unsigned() {
        let body = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#;
        let verified = verify_response(body, UPLOAD, &alipay_public()).unwrap();
        assert!(!verified.signed);
        assert!(verified.node_text.contains("isv.invalid-app-id"));
        let own_node = r#"{"alipay_open_mini_version_upload_response":{"code":"40004","msg":"Business Failed"},"sign":""}"#;
        let verified = verify_response(own_node, UPLOAD, &alipay_public()).unwrap();
        assert_eq!(
            verified.node_text,
            r#"{"code":"40004","msg":"Business Failed"}"#
        );
        assert!(!verified.signed);
    }

    #[test]
    fn an_unsigned_success_is_an_error() {
        for body in [
            r#"{"alipay_open_mini_version_upload_response":{"code":"10000","msg":"Success"}}"#,
            r#"{"alipay_open_mini_version_upload_response":{"code":"10000"},"sign":null}"#,
            r#"{"alipay_open_mini_version_upload_response":{"code":10000}}"#,
        ] {
            assert_eq!(
                verify_response(body, UPLOAD, &alipay_public()),
                Err(SignError::UnsignedSuccess(
                    "alipay_open_mini_version_upload_response".to_owned()
                )),
                "{body}"
            );
        }
    }

    #[test]
    fn a_node_repeated_after_the_signed_object_is_rejected() {
        let body = fixture!("response_signed.json");
        let spoofed = format!(
            "{},\"alipay_open_mini_version_upload_response\":{{\"code\":\"10000\",\"create_status\":\"3\"}}}}",
            body.strip_suffix('}').unwrap()
        );
        assert_eq!(
            verify_response(&spoofed, UPLOAD, &alipay_public()),
            Err(SignError::RepeatedNode(
                "alipay_open_mini_version_upload_response".to_owned()
            ))
        );
    }

    #[test]
    fn escaped_slashes_verify_through_the_java_sdk_fallback() {
        let body = fixture!("response_slash.json");
        let key = alipay_public();
        let verified = verify_response(body, "alipay.open.mini.version.build.query", &key).unwrap();
        assert!(verified.signed);
        assert!(verified.node_text.contains(r"https:\/\/example.invalid"));
        let sign = response_sign(body).unwrap();
        assert_eq!(
            key.verify(verified.node_text, &sign),
            Err(SignError::BadSignature)
        );
        assert_eq!(
            key.verify(fixture!("response_slash_unescaped.txt"), &sign),
            Ok(())
        );
    }

    #[test]
    fn missing_nodes_and_malformed_bodies_are_errors() {
        let key = alipay_public();
        let other =
            r#"{"alipay_open_mini_version_list_query_response":{"code":"10000"},"sign":"x"}"#;
        assert_eq!(
            verify_response(other, UPLOAD, &key),
            Err(SignError::MissingNode(
                "alipay_open_mini_version_upload_response".to_owned()
            ))
        );
        let html = "<html>502 Bad Gateway</html>";
        assert!(matches!(
            verify_response(html, UPLOAD, &key),
            Err(SignError::MalformedBody(_))
        ));
        let numeric_sign =
            r#"{"alipay_open_mini_version_upload_response":{"code":"10000"},"sign":7}"#;
        assert!(matches!(
            verify_response(numeric_sign, UPLOAD, &key),
            Err(SignError::MalformedBody(_))
        ));
    }

    #[test]
    fn node_extraction_is_brace_quote_and_escape_aware() {
        let body = concat!(
            r#"{"note":"\"x_response\":{\"fake\":1}","#,
            r#" "other" : [ {"x_response": {"nested": true}}, "]}" ],"#,
            r#" "x_response" : {"a":"}\\\"{","b":[{"c":"]"}],"d":{"e":null}} ,"#,
            r#""sign":"abc"}"#
        );
        assert_eq!(
            signed_response_node(body, "x_response"),
            Some(r#"{"a":"}\\\"{","b":[{"c":"]"}],"d":{"e":null}}"#)
        );
        assert_eq!(response_sign(body).as_deref(), Some("abc"));
        assert_eq!(
            signed_response_node(
                fixture!("response_signed.json"),
                "alipay_open_mini_version_upload_response"
            ),
            Some(fixture!("response_node.txt"))
        );
    }

    #[test]
    fn node_extraction_falls_back_to_error_response_and_refuses_non_objects() {
        let error = r#"{"error_response":{"code":"20000"}}"#;
        assert_eq!(
            signed_response_node(error, "x_response"),
            Some(r#"{"code":"20000"}"#)
        );
        assert_eq!(
            signed_response_node(r#"{"x_response":"{}"}"#, "x_response"),
            None
        );
        assert_eq!(
            signed_response_node(r#"{"x_response":{"a":"}"#, "x_response"),
            None
        );
        assert_eq!(
            signed_response_node(r#"["x_response",{}]"#, "x_response"),
            None
        );
        assert_eq!(
            response_node_name(UPLOAD),
            "alipay_open_mini_version_upload_response"
        );
    }

    #[test]
    fn generated_keypair_round_trips_through_its_pems() {
        let (private, private_pem, public, public_pem) = generate_keypair();
        assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(private_pem.lines().all(|line| line.len() <= 64));
        let signature = private.sign("biz_content={\"a\":\"中\"}");
        assert_eq!(
            public.verify("biz_content={\"a\":\"中\"}", &signature),
            Ok(())
        );
        assert_eq!(
            public.verify("biz_content={\"a\":\"中!\"}", &signature),
            Err(SignError::BadSignature)
        );
        let reparsed_private = PrivateKey::parse(&private_pem).unwrap();
        let reparsed_public = PublicKey::parse(&public_pem).unwrap();
        assert_eq!(reparsed_private.sign("x"), private.sign("x"));
        assert_eq!(
            reparsed_public.verify("x", &reparsed_private.sign("x")),
            Ok(())
        );
        let other = generate_keypair().2;
        assert_eq!(
            other.verify("x", &private.sign("x")),
            Err(SignError::BadSignature)
        );
    }
}
