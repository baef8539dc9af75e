//! The signatures the chat robots check, and the webhook's own:
//!
//! * DingTalk (钉钉 custom robot, 加签): `sign = urlencode(base64(HMAC-SHA256(key = secret,
//!   message = "{timestamp}\n{secret}")))` with the timestamp in milliseconds, both appended to the
//!   URL as `&timestamp=…&sign=…`; DingTalk refuses a timestamp more than an hour off.
//! * Feishu / Lark (custom bot, 签名校验): `sign = base64(HMAC-SHA256(key = "{timestamp}\n{secret}",
//!   message = ""))` with the timestamp in seconds, both sent in the JSON body (the signing string
//!   is the HMAC *key*, and the message is empty: the usual trap).
//! * The generic webhook: `X-Minifleet-Signature: sha256=hex(HMAC-SHA256(key = secret, message =
//!   "{timestamp}.{body}"))` with `X-Minifleet-Timestamp` (seconds), so a receiver can refuse a
//!   replay.

use base64::Engine as _;

/// HMAC-SHA256 of `message` under `key`.
fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// DingTalk's `sign` for `timestamp_ms`, before URL encoding.
pub fn dingtalk(secret: &str, timestamp_ms: u64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac(secret.as_bytes(), message.as_bytes()))
}

/// Feishu's `sign` for `timestamp_s`.
pub fn feishu(secret: &str, timestamp_s: u64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac(key.as_bytes(), b""))
}

/// The webhook's `X-Minifleet-Signature` value for `body` sent at `timestamp_s`.
pub fn webhook(secret: &str, timestamp_s: u64, body: &[u8]) -> String {
    let mut message = format!("{timestamp_s}.").into_bytes();
    message.extend_from_slice(body);
    format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_each_documented_recipe() {
        // RFC 4231 test case 2 pins the HMAC itself.
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let ding = dingtalk("SECabc", 1_700_000_000_000);
        let again = base64::engine::general_purpose::STANDARD
            .encode(hmac(b"SECabc", b"1700000000000\nSECabc"));
        assert_eq!(ding, again);
        let fei = feishu("abc", 1_700_000_000);
        let again = base64::engine::general_purpose::STANDARD.encode(hmac(b"1700000000\nabc", b""));
        assert_eq!(fei, again);
        assert_ne!(feishu("abc", 1_700_000_001), fei, "the time is signed");
        let hook = webhook("k", 5, b"{}");
        assert_eq!(hook, format!("sha256={}", hex::encode(hmac(b"k", b"5.{}"))));
    }
}
