//! Douyin push crypto (spec/douyin.md §1.3): the JSON envelope `{Nonce, TimeStamp, Encrypt,
//! MsgSignature}`, its SHA-1 signature over the sorted `[token, TimeStamp, Nonce, Encrypt]`, and
//! `Encrypt` = base64(IV ‖ AES-256-CBC(random 16 ‖ u32 length ‖ message ‖ component appid ‖
//! PKCS#7)), the IV carried in front of the ciphertext.

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::iv::FixedLength;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// AES block size; the IV is one block.
const BLOCK: usize = 16;
/// The random prefix, then the u32 big-endian length: where the message starts.
const MSG_START: usize = BLOCK + 4;
/// The longest padding accepted (ByteDance's PHP sample pads to 32).
const MAX_PAD: usize = 32;

/// The key text decodes leniently: the 43rd character's trailing bits are random.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a push could not be verified or opened. Messages never carry secrets or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters decoding to 32 bytes.
    #[error(
        "`encoding_aes_key` must be 43 base64 characters that decode to 32 bytes; copy the 消息加密解密 KEY again from the Douyin console"
    )]
    BadKey,
    /// `MsgSignature` does not match the token, timestamp, nonce and `Encrypt`.
    #[error("`MsgSignature` does not match; wrong push `token`?")]
    BadSignature,
    /// `Encrypt` is not base64 of an IV and whole AES blocks.
    #[error("`Encrypt` is not base64 of whole AES blocks")]
    BadCiphertext,
    /// It decrypts to something without a Douyin message's layout.
    #[error("`Encrypt` does not decrypt to a Douyin message; wrong `encoding_aes_key`?")]
    WrongKey,
    /// It was sealed for another third-party application.
    #[error("the push is sealed for another `component_appid`")]
    AppidMismatch,
}

/// A push's body as Douyin posts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// A random number, as text.
    #[serde(rename = "Nonce")]
    pub nonce: String,
    /// Unix seconds, as text.
    #[serde(rename = "TimeStamp")]
    pub timestamp: String,
    /// The sealed message.
    #[serde(rename = "Encrypt")]
    pub encrypt: String,
    /// Hex SHA-1 over the sorted token, timestamp, nonce and `Encrypt`.
    #[serde(rename = "MsgSignature")]
    pub msg_signature: String,
}

/// One third-party application's push crypto.
pub struct PushCrypt {
    token: Secret,
    key: [u8; 32],
    appid: String,
}

impl std::fmt::Debug for PushCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCrypt")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// The signature of an envelope's parts.
pub fn signature(token: &Secret, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token.expose(), timestamp, nonce, encrypt];
    parts.sort_unstable();
    hex::encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, parts.concat().as_bytes()))
}

impl PushCrypt {
    /// Crypto for third-party application `component_appid` with its push `token` and
    /// 43-character `encoding_aes_key`.
    pub fn new(
        token: &Secret,
        encoding_aes_key: &Secret,
        component_appid: &str,
    ) -> Result<PushCrypt, CryptoError> {
        let text = encoding_aes_key.expose();
        if text.len() != 43 {
            return Err(CryptoError::BadKey);
        }
        let key = KEY_ENGINE
            .decode(format!("{text}="))
            .map_err(|_| CryptoError::BadKey)?
            .try_into()
            .map_err(|_| CryptoError::BadKey)?;
        Ok(PushCrypt {
            token: token.clone(),
            key,
            appid: component_appid.to_owned(),
        })
    }

    /// Checks the envelope's signature (case-insensitively, in constant time) and opens it: the
    /// message, sealed for this application. Malformed input is an error, never a panic.
    pub fn open(&self, envelope: &Envelope) -> Result<String, CryptoError> {
        let expected = signature(
            &self.token,
            &envelope.timestamp,
            &envelope.nonce,
            &envelope.encrypt,
        );
        let received = envelope.msg_signature.to_ascii_lowercase();
        verify_slices_are_equal(expected.as_bytes(), received.as_bytes())
            .map_err(|_| CryptoError::BadSignature)?;
        self.decrypt(&envelope.encrypt)
    }

    fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let data = STANDARD
            .decode(encrypt)
            .map_err(|_| CryptoError::BadCiphertext)?;
        if data.len() < 2 * BLOCK || data.len() % BLOCK != 0 {
            return Err(CryptoError::BadCiphertext);
        }
        let (iv, cipher) = data.split_at(BLOCK);
        let mut plain = cipher.to_vec();
        let iv: [u8; BLOCK] = iv.try_into().map_err(|_| CryptoError::BadCiphertext)?;
        let key = UnboundCipherKey::new(&AES_256, &self.key).map_err(|_| CryptoError::BadKey)?;
        let key = DecryptingKey::cbc(key).map_err(|_| CryptoError::BadKey)?;
        let plain = key
            .decrypt(&mut plain, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| CryptoError::BadCiphertext)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::WrongKey)?);
        if !(1..=MAX_PAD).contains(&pad) || pad > plain.len() {
            return Err(CryptoError::WrongKey);
        }
        let content = &plain[..plain.len() - pad];
        let len: [u8; 4] = content
            .get(BLOCK..MSG_START)
            .and_then(|b| b.try_into().ok())
            .ok_or(CryptoError::WrongKey)?;
        let end = usize::try_from(u32::from_be_bytes(len))
            .ok()
            .and_then(|n| MSG_START.checked_add(n))
            .ok_or(CryptoError::WrongKey)?;
        let msg = content.get(MSG_START..end).ok_or(CryptoError::WrongKey)?;
        if &content[end..] != self.appid.as_bytes() {
            return Err(CryptoError::AppidMismatch);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::WrongKey)
    }

    /// Seals `msg` as Douyin does, with `random` as the IV and the random prefix (16 bytes
    /// each), padded to 16-byte blocks, and signs the envelope (for the sandbox and tests).
    pub fn seal(&self, msg: &str, random: [u8; 32], timestamp: u64, nonce: &str) -> Envelope {
        let (iv, prefix) = random.split_at(BLOCK);
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        let mut plain = Vec::with_capacity(MSG_START + msg.len() + self.appid.len() + BLOCK);
        plain.extend_from_slice(prefix);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = BLOCK - plain.len() % BLOCK;
        // `pad` is in 1..=16.
        plain.resize(plain.len() + pad, pad as u8);
        let mut iv_bytes = [0u8; BLOCK];
        iv_bytes.copy_from_slice(iv);
        // Invariants, not input: the key is 32 bytes and `plain` whole blocks.
        let key = UnboundCipherKey::new(&AES_256, &self.key).expect("a 32-byte key fits AES-256");
        let key = EncryptingKey::cbc(key).expect("AES-256 supports CBC");
        key.less_safe_encrypt(
            &mut plain,
            EncryptionContext::Iv128(FixedLength::from(iv_bytes)),
        )
        .expect("padded plaintext is whole AES blocks");
        let mut sealed = iv_bytes.to_vec();
        sealed.extend_from_slice(&plain);
        let encrypt = STANDARD.encode(sealed);
        let timestamp = timestamp.to_string();
        Envelope {
            msg_signature: signature(&self.token, &timestamp, nonce, &encrypt),
            nonce: nonce.to_owned(),
            timestamp,
            encrypt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn crypt(appid: &str) -> PushCrypt {
        PushCrypt::new(&Secret::new("push-token"), &Secret::new(KEY), appid).unwrap()
    }

    #[test]
    fn sealed_pushes_open_and_tampering_is_refused() {
        let c = crypt("tt_tp_0001");
        let msg = r#"{"Ticket":"t-1","MsgType":"Ticket","Event":"PUSH"}"#;
        let sealed = c.seal(msg, [7; 32], 1_700_000_000, "4464221");
        assert_eq!(c.open(&sealed).unwrap(), msg);
        let upper = Envelope {
            msg_signature: sealed.msg_signature.to_ascii_uppercase(),
            ..sealed.clone()
        };
        assert_eq!(
            c.open(&upper).unwrap(),
            msg,
            "signatures compare case-insensitively"
        );
        for forged in [
            Envelope {
                nonce: "1".into(),
                ..sealed.clone()
            },
            Envelope {
                timestamp: "1".into(),
                ..sealed.clone()
            },
            Envelope {
                encrypt: format!("A{}", &sealed.encrypt[1..]),
                ..sealed.clone()
            },
        ] {
            assert_eq!(c.open(&forged), Err(CryptoError::BadSignature));
        }
        assert_eq!(
            crypt("tt_other").open(&sealed),
            Err(CryptoError::AppidMismatch)
        );
        let other_key = PushCrypt::new(
            &Secret::new("push-token"),
            &Secret::new(KEY.replace('a', "b")),
            "tt_tp_0001",
        )
        .unwrap();
        assert!(matches!(
            other_key.open(&sealed),
            Err(CryptoError::WrongKey | CryptoError::AppidMismatch)
        ));
    }

    #[test]
    fn the_iv_is_carried_so_equal_messages_seal_differently() {
        let c = crypt("tt_tp_0001");
        let a = c.seal("{}", [1; 32], 1, "n");
        let b = c.seal("{}", [2; 32], 1, "n");
        assert_ne!(a.encrypt, b.encrypt);
        assert_eq!(c.open(&a).unwrap(), "{}");
        assert_eq!(c.open(&b).unwrap(), "{}");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let c = crypt("tt_tp_0001");
        for encrypt in [
            "",
            "not base64!",
            "AAAA",
            &STANDARD.encode([0u8; 17]),
            &STANDARD.encode([0u8; 48]),
        ] {
            let env = Envelope {
                nonce: "n".into(),
                timestamp: "1".into(),
                encrypt: encrypt.into(),
                msg_signature: signature(&Secret::new("push-token"), "1", "n", encrypt),
            };
            assert!(c.open(&env).is_err(), "{encrypt}");
        }
        for key in [
            "short",
            &format!("{KEY}A"),
            "!bcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ] {
            assert_eq!(
                PushCrypt::new(&Secret::new("t"), &Secret::new(key), "a").unwrap_err(),
                CryptoError::BadKey
            );
        }
    }
}
