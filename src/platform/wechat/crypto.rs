//! WeChat push message crypto (WXBizMsgCrypt, spec/wechat.md §1.4): `msg_signature` checks and the
//! AES-256-CBC envelope of pushed XML, with WeChat's PKCS#7 padding to 32 bytes done by hand.

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::iv::FixedLength;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::Deserialize;

use crate::secret::Secret;

/// Length of an `EncodingAESKey` in characters.
const KEY_CHARS: usize = 43;
/// WeChat's PKCS#7 block size (not AES's 16).
const PAD_BLOCK: usize = 32;
/// AES block size: ciphertexts are whole blocks.
const AES_BLOCK: usize = 16;
/// Random prefix of every plaintext.
const RANDOM_LEN: usize = 16;
/// Offset of the message: random prefix plus the u32 big-endian length.
const MSG_START: usize = RANDOM_LEN + 4;

/// Lenient decoder for `EncodingAESKey`: WeChat generates 43 random alphanumerics, so the last
/// character usually carries non-zero trailing bits, which the SDKs' decoders ignore.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a push could not be verified or opened. Messages never carry secrets or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The `EncodingAESKey` is not 43 base64 characters decoding to 32 bytes.
    #[error(
        "`encoding_aes_key` must be 43 base64 characters that decode to 32 bytes; copy it again from the component settings"
    )]
    BadKey,
    /// The `Encrypt` text is not standard padded base64.
    #[error("`Encrypt` is not standard padded base64")]
    BadBase64,
    /// The ciphertext is empty or not whole AES blocks.
    #[error("`Encrypt` has an impossible length for a WeChat message")]
    BadLength,
    /// The ciphertext decrypts to bytes without a WeChat message's layout (random prefix, length,
    /// message, appid): what a wrong `encoding_aes_key` gives, since pushes that reach decryption
    /// passed the `msg_signature` check (so the `token` is right).
    #[error(
        "`Encrypt` does not decrypt to a WeChat message; wrong `encoding_aes_key`? copy the component's EncodingAESKey again from open.weixin.qq.com"
    )]
    WrongKey,
    /// The padding is longer than the decrypted text.
    #[error("`Encrypt` has padding longer than the message; wrong `encoding_aes_key`?")]
    BadPadding,
    /// The decrypted message is not UTF-8.
    #[error("decrypted message is not UTF-8; wrong `encoding_aes_key`?")]
    BadUtf8,
    /// The trailing appid is not the component appid.
    #[error("decrypted message is not for this `component_appid`")]
    AppidMismatch,
    /// The `msg_signature` (or `signature`) does not match.
    #[error("`msg_signature` does not match; wrong `token`?")]
    BadSignature,
}

/// The query string of a push (`?signature=…&timestamp=…&nonce=…&encrypt_type=aes&msg_signature=…`);
/// unlisted parameters are ignored when deserializing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PushQuery {
    /// The `timestamp` parameter.
    pub timestamp: String,
    /// The `nonce` parameter.
    pub nonce: String,
    /// The `msg_signature` parameter: SHA-1 over token, timestamp, nonce and `Encrypt`.
    pub msg_signature: String,
}

/// One component's push crypto: its token, AES key and appid.
pub struct MsgCrypt {
    token: Secret,
    key: [u8; 32],
    appid: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("token", &self.token)
            .field("key", &"***")
            .field("appid", &self.appid)
            .finish()
    }
}

/// Hex SHA-1 of `parts` sorted byte-wise and joined with no separator.
fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, parts.concat().as_bytes()))
}

/// The `msg_signature` of a push: hex SHA-1 of sorted `[token, timestamp, nonce, encrypt]`.
pub fn signature(token: &Secret, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sha1_sorted(&mut [token.expose(), timestamp, nonce, encrypt])
}

/// The plain `signature` of a push: hex SHA-1 of sorted `[token, timestamp, nonce]`.
pub fn plain_signature(token: &Secret, timestamp: &str, nonce: &str) -> String {
    sha1_sorted(&mut [token.expose(), timestamp, nonce])
}

/// Compares a received signature to the expected one in constant time.
fn check_signature(expected: &str, received: &str) -> Result<(), CryptoError> {
    verify_slices_are_equal(expected.as_bytes(), received.as_bytes())
        .map_err(|_| CryptoError::BadSignature)
}

/// Decodes a 43-character `EncodingAESKey` into the 32-byte AES key.
fn decode_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    if encoding_aes_key.len() != KEY_CHARS {
        return Err(CryptoError::BadKey);
    }
    let bytes = KEY_ENGINE
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// Appends WeChat's PKCS#7 padding (block 32; a full block when already aligned).
fn pad(plain: &mut Vec<u8>) {
    let n = PAD_BLOCK - plain.len() % PAD_BLOCK;
    // `n` is in 1..=32, so the cast is lossless.
    plain.resize(plain.len() + n, n as u8);
}

/// Drops the padding; a last byte outside 1..=32 counts as no padding, as the SDKs do.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let last = plain.last().copied().ok_or(CryptoError::BadLength)?;
    let n = match usize::from(last) {
        n @ 1..=PAD_BLOCK => n,
        _ => 0,
    };
    let end = plain.len().checked_sub(n).ok_or(CryptoError::BadPadding)?;
    Ok(&plain[..end])
}

/// Splits an unpadded plaintext into the message and the trailing appid; a plaintext too short
/// for its length field is what a wrong key decrypts to.
fn split_plain(content: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let len_bytes: [u8; 4] = content
        .get(RANDOM_LEN..MSG_START)
        .and_then(|b| b.try_into().ok())
        .ok_or(CryptoError::WrongKey)?;
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::WrongKey)?;
    let msg_end = MSG_START
        .checked_add(msg_len)
        .ok_or(CryptoError::WrongKey)?;
    let msg = content
        .get(MSG_START..msg_end)
        .ok_or(CryptoError::WrongKey)?;
    let appid = content.get(msg_end..).ok_or(CryptoError::WrongKey)?;
    Ok((msg, appid))
}

impl MsgCrypt {
    /// Crypto for the component `component_appid` with its push `token` and 43-character
    /// `encoding_aes_key`; fails with [`CryptoError::BadKey`] on a malformed key.
    pub fn new(
        token: &Secret,
        encoding_aes_key: &Secret,
        component_appid: &str,
    ) -> Result<MsgCrypt, CryptoError> {
        Ok(MsgCrypt {
            token: token.clone(),
            key: decode_key(encoding_aes_key.expose())?,
            appid: component_appid.to_owned(),
        })
    }

    /// The CBC IV: the first 16 bytes of the key.
    fn iv(&self) -> FixedLength<16> {
        let mut iv = [0u8; AES_BLOCK];
        iv.copy_from_slice(&self.key[..AES_BLOCK]);
        FixedLength::from(iv)
    }

    /// Checks `msg_signature` against `timestamp`, `nonce` and the `Encrypt` text, in constant time.
    pub fn verify_msg_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        check_signature(
            &signature(&self.token, timestamp, nonce, encrypt),
            msg_signature,
        )
    }

    /// Checks the plain `signature` against `timestamp` and `nonce`, in constant time.
    pub fn verify_signature(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<(), CryptoError> {
        check_signature(&plain_signature(&self.token, timestamp, nonce), signature)
    }

    /// AES-256-CBC decryption of whole blocks, in place, without cipher padding.
    fn cbc_decrypt<'a>(&self, data: &'a mut [u8]) -> Result<&'a mut [u8], CryptoError> {
        if data.is_empty() || data.len() % AES_BLOCK != 0 {
            return Err(CryptoError::BadLength);
        }
        let key = UnboundCipherKey::new(&AES_256, &self.key).map_err(|_| CryptoError::BadKey)?;
        let key = DecryptingKey::cbc(key).map_err(|_| CryptoError::BadKey)?;
        key.decrypt(data, DecryptionContext::Iv128(self.iv()))
            .map_err(|_| CryptoError::BadLength)
    }

    /// Decrypts the base64 `Encrypt` text of a push into its XML message, checking that it was
    /// sealed for this component appid. Malformed input gives an error, never a panic.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        let mut data = STANDARD
            .decode(encrypt_b64)
            .map_err(|_| CryptoError::BadBase64)?;
        let plain = self.cbc_decrypt(&mut data)?;
        let (msg, appid) = split_plain(unpad(plain)?)?;
        if appid != self.appid.as_bytes() {
            return Err(CryptoError::AppidMismatch);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::BadUtf8)
    }

    /// AES-256-CBC encryption of whole blocks (the caller pads), returned as base64.
    fn cbc_encrypt(&self, mut data: Vec<u8>) -> String {
        // Invariants, not input: the key is 32 bytes and `data` is whole blocks.
        let key = UnboundCipherKey::new(&AES_256, &self.key).expect("a 32-byte key fits AES-256");
        let key = EncryptingKey::cbc(key).expect("AES-256 supports CBC");
        key.less_safe_encrypt(&mut data, EncryptionContext::Iv128(self.iv()))
            .expect("padded plaintext is whole AES blocks");
        STANDARD.encode(data)
    }

    /// Seals `msg` as WeChat does, with the given 16 random bytes, into base64 `Encrypt` text
    /// (for the sandbox and tests).
    ///
    /// # Panics
    /// If `msg` is 4 GiB or longer (its length must fit a u32).
    pub fn encrypt(&self, msg: &str, random16: [u8; 16]) -> String {
        let len = u32::try_from(msg.len()).expect("a push message is shorter than 4 GiB");
        let mut plain = Vec::with_capacity(MSG_START + msg.len() + self.appid.len() + PAD_BLOCK);
        plain.extend_from_slice(&random16);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        pad(&mut plain);
        self.cbc_encrypt(plain)
    }

    /// Verifies `query.msg_signature` over the `Encrypt` text, then decrypts it.
    pub fn open(&self, query: PushQuery, body_xml_encrypt: &str) -> Result<String, CryptoError> {
        self.verify_msg_signature(
            &query.msg_signature,
            &query.timestamp,
            &query.nonce,
            body_xml_encrypt,
        )?;
        self.decrypt(body_xml_encrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wx1234567890abcdef";
    const TOKEN: &str = "minifleet-token";
    const RANDOM: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    // Fixed vector, computed without this code by tests/fixtures/wechat/crypto_vector.sh:
    //   KEYHEX=$(printf '%s=' "$KEY" | base64 -d | xxd -p -c 64); IVHEX=$(printf '%s' "$KEYHEX" | cut -c1-32)
    //   { printf '\x00\x01…\x0f'; printf '\x00\x00\x00\xe0'; printf '%s' "$MSG"; printf '%s' "$APPID";
    //     for _ in $(seq 26); do printf '\x1a'; done; } > plain.bin     # 16+4+224+18 = 262, pad 26 → 288
    //   openssl enc -aes-256-cbc -nopad -K "$KEYHEX" -iv "$IVHEX" -in plain.bin | base64 -w0
    //   printf '%s\n' "$TOKEN" 1700000000 nonce42 "$ENC" | LC_ALL=C sort | tr -d '\n' | sha1sum
    //   printf '%s\n' "$TOKEN" 1700000000 nonce42 | LC_ALL=C sort | tr -d '\n' | sha1sum
    const VECTOR_MSG: &str = "<xml><AppId><![CDATA[wx1234567890abcdef]]></AppId><CreateTime>1700000000</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@minifleet]]></ComponentVerifyTicket></xml>";
    const VECTOR_ENC: &str = "IG+0eOkLdhYW9kHtuT3HYxKV1L5i0CHZ5njFvnBbTAUpVuohNKjtBrEjHsNRvwjQre+FKHayIkjKQxvjP3qzBM1w5CqJz2Zwxvh2DTw4jM133ZtAJ91WsFLKIdZXUij25XxO6FyN8LF36Au//ILQe96/lcWbPzGHrHjE1BsGL3x+OLgTWFh2ipDV8UcjiQTV9FrOYJUobKvrwsMimdjCtHk7PHdEuyWCbZQ+qlMJNvzZxWm8+hSh+HITQOeGZd0e5Zh5mn0xUw0EYxd0WQc9ceJViKj+UjNWVbR17C4g4844LPAtLPnLO3urKe118E9Mm6luL3MwLmQJFH0EIE1pB3++KbTQId4qOVHqjNae7DVsUGcIOiyd+AJhPPq5qi0s";
    const VECTOR_MSG_SIGNATURE: &str = "db8f62051e3e2b798b8544dfc570d6a506faab88";
    const VECTOR_SIGNATURE: &str = "a6d2755c0167879d7ec58beb0a59b98c2486c2fe";

    fn crypt() -> MsgCrypt {
        crypt_for(APPID)
    }

    fn crypt_for(appid: &str) -> MsgCrypt {
        MsgCrypt::new(&Secret::new(TOKEN), &Secret::new(KEY), appid).unwrap()
    }

    fn query(msg_signature: &str) -> PushQuery {
        PushQuery {
            timestamp: "1700000000".into(),
            nonce: "nonce42".into(),
            msg_signature: msg_signature.into(),
        }
    }

    fn raw(enc: &str) -> Vec<u8> {
        STANDARD.decode(enc).unwrap()
    }

    #[test]
    fn key_decodes_like_openssl_and_iv_is_its_head() {
        let c = crypt();
        assert_eq!(
            hex::encode(c.key),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        assert_eq!(c.iv().as_ref(), &c.key[..16]);
    }

    #[test]
    fn fixed_vector_decrypts_and_reencrypts() {
        let c = crypt();
        assert_eq!(c.decrypt(VECTOR_ENC).unwrap(), VECTOR_MSG);
        assert_eq!(c.encrypt(VECTOR_MSG, RANDOM), VECTOR_ENC);
    }

    #[test]
    fn fixed_vector_signatures() {
        let token = Secret::new(TOKEN);
        assert_eq!(
            signature(&token, "1700000000", "nonce42", VECTOR_ENC),
            VECTOR_MSG_SIGNATURE
        );
        assert_eq!(
            plain_signature(&token, "1700000000", "nonce42"),
            VECTOR_SIGNATURE
        );
        let c = crypt();
        c.verify_msg_signature(VECTOR_MSG_SIGNATURE, "1700000000", "nonce42", VECTOR_ENC)
            .unwrap();
        c.verify_signature(VECTOR_SIGNATURE, "1700000000", "nonce42")
            .unwrap();
        assert_eq!(
            c.open(query(VECTOR_MSG_SIGNATURE), VECTOR_ENC).unwrap(),
            VECTOR_MSG
        );
    }

    #[test]
    fn round_trip_for_every_pad_length() {
        let c = crypt();
        let mut pads_seen = Vec::new();
        // 16 + 4 + 18 = 38 fixed bytes; 32 consecutive message lengths give every pad 1..=32.
        for len in 0..32 {
            let msg = "x".repeat(len);
            let enc = c.encrypt(&msg, RANDOM);
            let total = MSG_START + len + APPID.len();
            let pad_len = PAD_BLOCK - total % PAD_BLOCK;
            assert_eq!(raw(&enc).len(), total + pad_len, "len {len}");
            assert_eq!(c.decrypt(&enc).unwrap(), msg, "len {len}");
            pads_seen.push(pad_len);
        }
        pads_seen.sort_unstable();
        assert_eq!(pads_seen, (1..=32).collect::<Vec<_>>());
    }

    #[test]
    fn aligned_plaintext_gets_a_full_pad_block() {
        let c = crypt();
        let msg = "y".repeat(26); // 16 + 4 + 26 + 18 = 64, already aligned
        let enc = c.encrypt(&msg, RANDOM);
        assert_eq!(raw(&enc).len(), 96);
        assert_eq!(c.decrypt(&enc).unwrap(), msg);
    }

    #[test]
    fn round_trip_utf8_and_empty_messages() {
        let c = crypt();
        for msg in ["", "<xml><Content><![CDATA[茶馆 ✓]]></Content></xml>"] {
            assert_eq!(c.decrypt(&c.encrypt(msg, [7; 16])).unwrap(), msg);
        }
    }

    #[test]
    fn last_byte_outside_pad_range_counts_as_no_padding() {
        // As in the SDKs: an unpadded aligned plaintext ending in 'f' (0x66) decrypts as is.
        let c = crypt();
        let msg = "z".repeat(26);
        let mut plain = RANDOM.to_vec();
        plain.extend_from_slice(&26u32.to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(APPID.as_bytes());
        assert_eq!(plain.len(), 64);
        assert_eq!(c.decrypt(&c.cbc_encrypt(plain)).unwrap(), msg);
    }

    #[test]
    fn pad_longer_than_text_is_rejected() {
        let c = crypt();
        let enc = c.cbc_encrypt(vec![32; 16]);
        assert_eq!(c.decrypt(&enc), Err(CryptoError::BadPadding));
    }

    #[test]
    fn short_plaintext_is_rejected() {
        let c = crypt();
        // 16 bytes ending in pad 1: 15 bytes left, fewer than random + length.
        let enc = c.cbc_encrypt(vec![1; 16]);
        assert_eq!(c.decrypt(&enc), Err(CryptoError::WrongKey));
    }

    #[test]
    fn length_field_past_the_end_is_rejected() {
        let c = crypt();
        let mut plain = RANDOM.to_vec();
        plain.extend_from_slice(&u32::MAX.to_be_bytes());
        plain.extend_from_slice(b"short");
        pad(&mut plain);
        assert_eq!(c.decrypt(&c.cbc_encrypt(plain)), Err(CryptoError::WrongKey));
    }

    #[test]
    fn invalid_utf8_message_is_rejected() {
        let c = crypt();
        let mut plain = RANDOM.to_vec();
        plain.extend_from_slice(&2u32.to_be_bytes());
        plain.extend_from_slice(&[0xff, 0xfe]);
        plain.extend_from_slice(APPID.as_bytes());
        pad(&mut plain);
        assert_eq!(c.decrypt(&c.cbc_encrypt(plain)), Err(CryptoError::BadUtf8));
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let c = crypt();
        let data = raw(VECTOR_ENC);
        // Byte 0 flips the length field; the last bytes hit the appid and the pad.
        for at in [0, 1, data.len() - 17, data.len() - 2, data.len() - 1] {
            let mut bad = data.clone();
            bad[at] ^= 0x01;
            assert!(c.decrypt(&STANDARD.encode(&bad)).is_err(), "flip at {at}");
        }
        let mut bad = data.clone();
        bad[0] ^= 0x80;
        assert_eq!(
            c.decrypt(&STANDARD.encode(&bad)),
            Err(CryptoError::WrongKey)
        );
    }

    #[test]
    fn a_wrong_encoding_aes_key_is_named_instead_of_an_impossible_length() {
        let right = crypt();
        let wrong = MsgCrypt::new(
            &Secret::new(TOKEN),
            &Secret::new("ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"),
            APPID,
        )
        .unwrap();
        for n in 0..200u8 {
            let msg = "<xml><ComponentVerifyTicket>t</ComponentVerifyTicket></xml>"
                .repeat(usize::from(n % 7));
            let enc = right.encrypt(&msg, [n; 16]);
            let err = wrong.decrypt(&enc).unwrap_err();
            assert_ne!(err, CryptoError::BadLength, "message {n}");
            assert!(
                err.to_string().contains("`encoding_aes_key`"),
                "message {n}: {err}"
            );
        }
    }

    #[test]
    fn wrong_appid_is_rejected() {
        let other = crypt_for("wx0000000000000000");
        assert_eq!(other.decrypt(VECTOR_ENC), Err(CryptoError::AppidMismatch));
        let longer = crypt_for("wx1234567890abcdef0");
        assert_eq!(longer.decrypt(VECTOR_ENC), Err(CryptoError::AppidMismatch));
    }

    #[test]
    fn bad_base64_is_rejected() {
        let c = crypt();
        for enc in ["not base64!", "AAAAAAAAAAAAAAAAAAAAAA", "AAAA AAAA"] {
            assert_eq!(c.decrypt(enc), Err(CryptoError::BadBase64), "{enc:?}");
        }
    }

    #[test]
    fn ragged_or_empty_ciphertext_is_rejected() {
        let c = crypt();
        for len in [0, 1, 15, 17, 31, 33] {
            let enc = STANDARD.encode(vec![0u8; len]);
            assert_eq!(c.decrypt(&enc), Err(CryptoError::BadLength), "len {len}");
        }
    }

    #[test]
    fn bad_signatures_are_rejected() {
        let c = crypt();
        let mut wrong = VECTOR_MSG_SIGNATURE.to_owned();
        wrong.replace_range(0..1, "e");
        for sig in [
            wrong.as_str(),
            "",
            &VECTOR_MSG_SIGNATURE[..39],
            VECTOR_SIGNATURE,
        ] {
            let got = c.verify_msg_signature(sig, "1700000000", "nonce42", VECTOR_ENC);
            assert_eq!(got, Err(CryptoError::BadSignature), "{sig:?}");
            assert_eq!(
                c.open(query(sig), VECTOR_ENC),
                Err(CryptoError::BadSignature)
            );
        }
        let other_token = MsgCrypt::new(&Secret::new("other"), &Secret::new(KEY), APPID).unwrap();
        assert_eq!(
            other_token.open(query(VECTOR_MSG_SIGNATURE), VECTOR_ENC),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            c.verify_signature(VECTOR_MSG_SIGNATURE, "1700000000", "nonce42"),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let token = Secret::new(TOKEN);
        let keys = [
            &KEY[..42],
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            "",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDE茶",
        ];
        for key in keys {
            let got = MsgCrypt::new(&token, &Secret::new(key), APPID);
            assert_eq!(got.err(), Some(CryptoError::BadKey), "{key:?}");
        }
    }

    #[test]
    fn nothing_secret_is_printed() {
        let c = crypt();
        let shown = format!("{c:?}");
        assert!(!shown.contains(TOKEN) && !shown.contains(&hex::encode(c.key)));
        assert!(shown.contains(APPID));
        let err = CryptoError::BadKey.to_string();
        assert!(!err.contains(KEY) && err.starts_with('`'));
    }

    proptest! {
        #[test]
        fn decrypt_never_panics_on_any_base64(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = crypt().decrypt(&STANDARD.encode(&bytes));
        }

        #[test]
        fn decrypt_never_panics_on_whole_blocks(blocks in proptest::collection::vec(any::<[u8; 16]>(), 1..12)) {
            let enc = STANDARD.encode(blocks.concat());
            prop_assert_ne!(crypt().decrypt(&enc).err(), Some(CryptoError::BadBase64));
        }

        #[test]
        fn any_message_round_trips(msg in ".{0,300}", random in any::<[u8; 16]>()) {
            let c = crypt();
            let enc = c.encrypt(&msg, random);
            prop_assert_eq!(raw(&enc).len() % PAD_BLOCK, 0);
            prop_assert_eq!(c.decrypt(&enc), Ok(msg));
        }

        #[test]
        fn decrypt_never_panics_on_any_text(text in ".{0,80}") {
            let _ = crypt().decrypt(&text);
        }
    }
}
