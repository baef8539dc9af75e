//! Secret references: `${env:NAME}` and `${file:PATH}` (relative to the fleet file), resolved into
//! [`Secret`]s. Messages name the variable or path, never the value.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::secret::Secret;

/// The largest secret file read: 64 KiB. A secret is one key or token (a PEM RSA key of 4096
/// bits is about 3 KiB); the bound keeps a wrong path from reading a large file into memory.
pub(crate) const MAX_SECRET_BYTES: u64 = 64 << 10;

/// How to look up an environment variable.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a secret could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SecretError {
    /// The fleet file holds the secret itself.
    #[error(
        "secrets must come from `${{env:NAME}}` or `${{file:PATH}}`, never from the fleet file itself"
    )]
    Literal,
    /// The environment variable is not set.
    #[error("environment variable `{0}` is not set")]
    EnvUnset(String),
    /// The environment variable is set but empty.
    #[error("environment variable `{0}` is empty")]
    EnvEmpty(String),
    /// The file cannot be read.
    #[error("cannot read secret file `{path}`: {reason}")]
    Unreadable {
        /// The path as written.
        path: String,
        /// Why, in the OS's words.
        reason: String,
    },
    /// The file is empty.
    #[error("secret file `{0}` is empty")]
    FileEmpty(String),
    /// The path names a device, a directory, a pipe or a socket.
    #[error("secret file `{0}` is not a regular file")]
    NotAFile(String),
    /// The file is larger than [`MAX_SECRET_BYTES`].
    #[error("secret file `{0}` is larger than 64 KiB")]
    FileTooLarge(String),
    /// The file is not UTF-8 text.
    #[error("secret file `{0}` is not UTF-8 text")]
    NotText(String),
    /// A fleet from git names a file outside its commit.
    #[error("secret file `{0}` is outside the fleet's git commit")]
    OutsideCheckout(String),
}

impl SecretError {
    /// How to fix it.
    pub(crate) fn help(&self) -> String {
        match self {
            SecretError::Literal => {
                "put the value in an environment variable or a file and write e.g. `${env:WECHAT_COMPONENT_SECRET}`".to_owned()
            }
            SecretError::EnvUnset(name) | SecretError::EnvEmpty(name) => {
                format!("export `{name}` before running minifleet")
            }
            SecretError::Unreadable { .. } | SecretError::FileEmpty(_) => {
                "file paths are relative to the fleet file's directory".to_owned()
            }
            SecretError::NotAFile(_) => {
                "point `${file:…}` at a regular file holding the secret, such as a PEM key; \
                 paths are relative to the fleet file's directory"
                    .to_owned()
            }
            SecretError::FileTooLarge(_) => {
                "a secret file holds one key or token (a PEM key is about 2 KiB): check the path, \
                 which is relative to the fleet file's directory"
                    .to_owned()
            }
            SecretError::NotText(_) => {
                "save the key or token as UTF-8 text (PEM, or base64 for a bare key)".to_owned()
            }
            SecretError::OutsideCheckout(_) => {
                "a fleet followed from git reads `${file:…}` only inside its own commit: give the \
                 secret through the environment (`${env:NAME}`) instead"
                    .to_owned()
            }
        }
    }
}

/// Whether the values of settings named `key` are secret references: by the fleet file's naming
/// rule, a setting whose name ends in `secret`, `token` or `key` holds a secret (`component_secret`,
/// `encoding_aes_key`, `private_key`, `app_auth_token`, …), whichever platform it belongs to.
pub(crate) fn is_secret_key(key: &str) -> bool {
    ["secret", "token", "key"]
        .iter()
        .any(|end| key.ends_with(end))
}

/// A parsed secret reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretRef<'t> {
    /// `${env:NAME}`.
    Env(&'t str),
    /// `${file:PATH}`.
    File(&'t str),
}

/// Parses `${env:NAME}` / `${file:PATH}`; anything else is a literal.
pub(crate) fn parse(text: &str) -> Result<SecretRef<'_>, SecretError> {
    let inner = text
        .trim()
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .filter(|t| !t.contains('}'))
        .ok_or(SecretError::Literal)?;
    match inner.split_once(':') {
        Some(("env", name)) if !name.is_empty() => Ok(SecretRef::Env(name)),
        Some(("file", path)) if !path.is_empty() => Ok(SecretRef::File(path)),
        _ => Err(SecretError::Literal),
    }
}

/// Resolves a secret reference: env variables through `env`, files relative to `base_dir`.
pub(crate) fn resolve(
    text: &str,
    base_dir: &Path,
    env: EnvLookup<'_>,
) -> Result<Secret, SecretError> {
    resolve_within(text, base_dir, None, env)
}

/// [`resolve`], where a file must also be inside `root` (a fleet's git commit), links and `..`
/// followed.
pub(crate) fn resolve_within(
    text: &str,
    base_dir: &Path,
    root: Option<&Path>,
    env: EnvLookup<'_>,
) -> Result<Secret, SecretError> {
    match parse(text)? {
        SecretRef::Env(name) => match env(name) {
            None => Err(SecretError::EnvUnset(name.to_owned())),
            Some(v) if v.is_empty() => Err(SecretError::EnvEmpty(name.to_owned())),
            Some(v) => Ok(Secret::new(v)),
        },
        SecretRef::File(path) => {
            if let Some(root) = root {
                let inside = match (base_dir.join(path).canonicalize(), root.canonicalize()) {
                    (Ok(full), Ok(root)) => full.starts_with(root),
                    _ => false,
                };
                if !inside {
                    return Err(SecretError::OutsideCheckout(path.to_owned()));
                }
            }
            read_file(path, base_dir)
        }
    }
}

/// Reads a secret file: a regular file (looked at before it is opened, so a pipe is never
/// waited on) of at most [`MAX_SECRET_BYTES`], read no further than that; one trailing newline
/// is left out.
fn read_file(path: &str, base_dir: &Path) -> Result<Secret, SecretError> {
    let full = base_dir.join(path);
    let unreadable = |e: std::io::Error| SecretError::Unreadable {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    };
    if !std::fs::metadata(&full).map_err(unreadable)?.is_file() {
        return Err(SecretError::NotAFile(path.to_owned()));
    }
    let file = File::open(&full).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(SecretError::NotAFile(path.to_owned()));
    }
    if meta.len() > MAX_SECRET_BYTES {
        return Err(SecretError::FileTooLarge(path.to_owned()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretError::FileTooLarge(path.to_owned()));
    }
    let text = String::from_utf8(bytes).map_err(|_| SecretError::NotText(path.to_owned()))?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err(SecretError::FileEmpty(path.to_owned()));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_references_and_rejects_literals() {
        assert_eq!(parse("${env:A_B}"), Ok(SecretRef::Env("A_B")));
        assert_eq!(
            parse("${file:secrets/aes.key}"),
            Ok(SecretRef::File("secrets/aes.key"))
        );
        for literal in [
            "hunter2",
            "${env:}",
            "${vault:x}",
            "${env:A}x",
            "$env:A",
            "{env:A}",
        ] {
            assert_eq!(parse(literal), Err(SecretError::Literal), "{literal}");
        }
    }

    #[test]
    fn resolves_env_and_names_missing_variables() {
        let env = |n: &str| (n == "SET").then(|| "s3cret".to_owned());
        let dir = Path::new(".");
        assert_eq!(resolve("${env:SET}", dir, &env).unwrap().expose(), "s3cret");
        let err = resolve("${env:UNSET}", dir, &no_env).unwrap_err();
        assert_eq!(err.to_string(), "environment variable `UNSET` is not set");
        let empty = |_: &str| Some(String::new());
        assert_eq!(
            resolve("${env:E}", dir, &empty),
            Err(SecretError::EnvEmpty("E".into()))
        );
    }

    #[test]
    fn reads_files_relative_to_the_base_and_trims_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/k"), "line\n\n").unwrap();
        std::fs::write(dir.path().join("secrets/crlf"), "v\r\n").unwrap();
        let k = resolve("${file:secrets/k}", dir.path(), &no_env).unwrap();
        assert_eq!(k.expose(), "line\n");
        let crlf = resolve("${file:secrets/crlf}", dir.path(), &no_env).unwrap();
        assert_eq!(crlf.expose(), "v");
        let err = resolve("${file:missing.key}", dir.path(), &no_env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read secret file `missing.key`: entity not found"
        );
    }
}
