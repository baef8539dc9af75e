//! The fleet from a git branch (`watch --git URL --branch B --path P`): fetched with gitoxide, no
//! git binary, nothing from the repository ever run (no hooks, no filters, no checkout by git).
//!
//! The source keeps a bare repository beside the store (`<store>/git/repo.git`) and fetches only
//! the followed branch. A commit it has not seen is written out, blob by blob, into a tree of its
//! own (`<store>/git/trees/<sha>/`): regular files only (a symlink is left out, so nothing in the
//! tree points outside it), within [`MAX_FILES`] and [`MAX_BYTES`]. The fleet file is read from
//! there, and its `${file:…}` secrets must stay inside that tree (the loader's `confine`). The
//! trees of the running commit and the one before it are kept; older ones are removed.
//!
//! Credentials: HTTPS takes a user and a token (the token from `${env:…}` / `${file:…}`), given to
//! the transport for that URL only and never written anywhere; SSH runs the system's `ssh` with
//! the key file (`-i`, `IdentitiesOnly`), as git itself does.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::secret::Secret;

/// Files a commit's tree may hold for minifleet to write it out.
pub const MAX_FILES: usize = 10_000;

/// Bytes a commit's tree may hold for minifleet to write it out.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Where the fleet comes from.
#[derive(Debug, Clone)]
pub struct GitSource {
    /// The repository's URL (`https://…`, `ssh://…`, `git@host:path`, `file://…` or a path).
    pub url: String,
    /// The branch to follow.
    pub branch: String,
    /// The fleet file's path inside the repository.
    pub path: PathBuf,
    /// How to authenticate.
    pub auth: GitAuth,
    /// Where the repository and the trees are kept (`<store>/git`).
    pub dir: PathBuf,
}

/// Credentials for the repository (`Debug` shows no secret).
#[derive(Debug, Clone, Default)]
pub struct GitAuth {
    /// HTTPS: the user name (default `git`) for [`GitAuth::token`].
    pub user: Option<String>,
    /// HTTPS: the password or access token.
    pub token: Option<Secret>,
    /// SSH: the private key file.
    pub ssh_key: Option<PathBuf>,
}

/// A commit of the followed branch, written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The commit's id (40 hex digits).
    pub sha: String,
    /// Its author, `Name <email>`.
    pub author: String,
    /// The first line of its message.
    pub summary: String,
    /// The tree written out.
    pub root: PathBuf,
    /// The fleet file in it.
    pub fleet: PathBuf,
}

impl Checkout {
    /// `3f2a1b9c0d4e by Ana <ana@example.com>: raise tea-house to 1.5.0`.
    pub fn describe(&self) -> String {
        format!(
            "{} by {}: {}",
            crate::model::short_revision(&self.sha),
            self.author,
            self.summary
        )
    }
}

/// Why the branch could not be followed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// Opening, fetching or reading the repository failed.
    #[error("git {what} of {url}: {reason}")]
    Repository {
        /// What was done (`fetch`, `open`…).
        what: &'static str,
        /// The URL, without credentials.
        url: String,
        /// Why.
        reason: String,
    },
    /// The branch is not in the repository.
    #[error("the branch `{branch}` is not in {url}")]
    NoBranch {
        /// The branch.
        branch: String,
        /// The URL.
        url: String,
    },
    /// The commit has no fleet file at the path.
    #[error("commit {commit} has no file `{path}`")]
    NoFleetFile {
        /// The commit, described.
        commit: String,
        /// The path in the repository.
        path: String,
    },
    /// The commit's tree is too large to write out.
    #[error("commit {commit} holds more than {MAX_FILES} files or {} MiB; minifleet reads fleet repositories, not code", MAX_BYTES / 1024 / 1024)]
    TooLarge {
        /// The commit, described.
        commit: String,
    },
    /// Writing the tree failed.
    #[error("cannot write commit {commit} under {dir}: {reason}")]
    Write {
        /// The commit.
        commit: String,
        /// Where.
        dir: String,
        /// Why.
        reason: String,
    },
}

impl GitSource {
    /// The URL as shown: without a user or password in it.
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    fn fail(&self, what: &'static str) -> impl Fn(String) -> GitError + '_ {
        move |reason| GitError::Repository {
            what,
            url: self.shown_url(),
            reason: crate::scrub::scrub(&reason.replace(&self.url, &self.shown_url())),
        }
    }

    /// Fetches the branch; the newest commit written out, or `None` when it is `known` (the
    /// commit running now). Blocking: run it off the async runtime.
    pub fn fetch(&self, known: Option<&str>) -> Result<Option<Checkout>, GitError> {
        if self.auth.token.is_some() && !token_may_go_to(&self.url) {
            return Err(self.fail("fetch")(
                "a token goes over https only (plain http only to a loopback host); use the https URL"
                    .to_owned(),
            ));
        }
        let repo = self.repository()?;
        let remote_ref = format!("refs/remotes/origin/{}", self.branch);
        let spec = format!("+refs/heads/{}:{remote_ref}", self.branch);
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| self.fail("remote")(e.to_string()))?
            .with_refspecs(Some(spec.as_str()), gix::remote::Direction::Fetch)
            .map_err(|e| self.fail("refspec")(e.to_string()))?
            .with_fetch_tags(gix::remote::fetch::Tags::None);
        let mut connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| self.fail("connect")(format!("{e:#}")))?;
        // Only the configured token answers a server's question: no helper program, no prompt.
        let user = self.auth.user.clone().unwrap_or_else(|| "git".to_owned());
        let password = self.auth.token.as_ref().map(|t| t.expose().to_owned());
        connection.set_credentials(move |action| match (action, &password) {
            (gix::credentials::helper::Action::Get(context), Some(password)) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    credentials: gix::sec::identity::Credentials::UsernamePassword {
                        username: user.clone(),
                        password: password.clone(),
                        oauth_refresh_token: None,
                    },
                    next: context.into(),
                }))
            }
            _ => Ok(None),
        });
        let interrupt = AtomicBool::new(false);
        connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.fail("fetch")(format!("{e:#}")))?
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| self.fail("fetch")(format!("{e:#}")))?;
        let id = match repo.try_find_reference(remote_ref.as_str()) {
            Ok(Some(mut reference)) => reference
                .peel_to_id()
                .map_err(|e| self.fail("read")(e.to_string()))?
                .detach(),
            Ok(None) => {
                return Err(GitError::NoBranch {
                    branch: self.branch.clone(),
                    url: self.shown_url(),
                });
            }
            Err(e) => return Err(self.fail("read")(e.to_string())),
        };
        let sha = id.to_string();
        if known == Some(sha.as_str()) {
            return Ok(None);
        }
        self.write_out(&repo, id).map(Some)
    }

    /// The bare repository beside the store, made on first use, opened isolated: no global or
    /// system git configuration (no credential helper, no URL rewrite) and no environment.
    fn repository(&self) -> Result<gix::Repository, GitError> {
        let path = self.dir.join("repo.git");
        if !path.join("HEAD").is_file() {
            std::fs::create_dir_all(&self.dir).map_err(|e| self.fail("open")(e.to_string()))?;
            gix::init_bare(&path).map_err(|e| self.fail("init")(e.to_string()))?;
        }
        let overrides: Vec<String> = self
            .auth
            .ssh_key
            .iter()
            .map(|key| format!("core.sshCommand={}", ssh_command(key)))
            .collect();
        let options = gix::open::Options::isolated().config_overrides(overrides);
        gix::open_opts(&path, options).map_err(|e| self.fail("open")(e.to_string()))
    }

    /// Writes commit `id`'s tree out (see the module doc); keeps the tree before it.
    fn write_out(&self, repo: &gix::Repository, id: gix::ObjectId) -> Result<Checkout, GitError> {
        let read = self.fail("read");
        let commit = repo.find_commit(id).map_err(|e| read(e.to_string()))?;
        let author = commit
            .author()
            .map(|a| format!("{} <{}>", a.name, a.email))
            .unwrap_or_else(|_| "unknown".to_owned());
        let summary = commit
            .message()
            .map(|m| m.summary().to_string())
            .unwrap_or_default();
        let sha = id.to_string();
        let described = format!("{} by {author}", crate::model::short_revision(&sha));
        let entries = commit
            .tree()
            .and_then(|t| t.traverse().breadthfirst.files())
            .map_err(|e| read(e.to_string()))?;
        let trees = self.dir.join("trees");
        let root = trees.join(&sha);
        let fleet = root.join(&self.path);
        if !root.is_dir() {
            let partial = trees.join(format!(".{sha}.partial"));
            let write = |e: std::io::Error| GitError::Write {
                commit: described.clone(),
                dir: partial.display().to_string(),
                reason: e.kind().to_string(),
            };
            let _ = std::fs::remove_dir_all(&partial);
            std::fs::create_dir_all(&partial).map_err(write)?;
            let (mut files, mut bytes) = (0usize, 0u64);
            for entry in entries.iter().filter(|e| e.mode.is_blob()) {
                let Some(relative) = safe_path(&entry.filepath.to_string()) else {
                    continue;
                };
                let object = repo
                    .find_object(entry.oid)
                    .map_err(|e| read(e.to_string()))?;
                files += 1;
                bytes += object.data.len() as u64;
                if files > MAX_FILES || bytes > MAX_BYTES {
                    let _ = std::fs::remove_dir_all(&partial);
                    return Err(GitError::TooLarge { commit: described });
                }
                let target = partial.join(relative);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(write)?;
                }
                std::fs::write(&target, &object.data).map_err(write)?;
            }
            std::fs::rename(&partial, &root).map_err(write)?;
        }
        if !fleet.is_file() {
            return Err(GitError::NoFleetFile {
                commit: described,
                path: self.path.display().to_string(),
            });
        }
        Ok(Checkout {
            sha,
            author,
            summary,
            root,
            fleet,
        })
    }

    /// Removes the written-out trees but `keep` (the running commit and the one before it).
    pub fn prune(&self, keep: &[&str]) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("trees")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name.as_str()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether a token may be sent to `url`: over https (and ssh), or over http to loopback only.
fn token_may_go_to(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => {
            let authority = rest.split('/').next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            matches!(host, "127.0.0.1" | "localhost" | "[::1]")
        }
        _ => true,
    }
}

/// A path from a tree as a relative path of normal parts only (`None`: absolute, `..`, empty).
fn safe_path(path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let normal = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (normal && !path.is_empty()).then(|| relative.to_path_buf())
}

/// `url` without a user or password (`https://user:token@host/…` → `https://host/…`).
pub fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_owned(),
    }
}

/// The ssh command for `key`: the system's `ssh` with only that key, as `core.sshCommand` would
/// give it.
pub fn ssh_command(key: &Path) -> String {
    format!(
        "ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes",
        key.display().to_string().replace('\'', "")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs git (the test's own tool, to make commits; minifleet never runs it).
    pub(crate) fn git(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=Ana", "-c", "user.email=ana@example.com"])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn a_branch_is_fetched_written_out_and_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = tmp.path().join("origin.git");
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "--bare", "-q"]);
        git(
            tmp.path(),
            &["clone", "-q", origin.to_str().unwrap(), "work"],
        );
        std::fs::create_dir_all(work.join("deploy/secrets")).unwrap();
        std::fs::write(work.join("deploy/fleet.yaml"), "version: 1\n").unwrap();
        std::fs::write(work.join("deploy/secrets/key"), "k").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "first fleet"]);
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
        let source = GitSource {
            url: format!("file://{}", origin.display()),
            branch: "main".into(),
            path: "deploy/fleet.yaml".into(),
            auth: GitAuth::default(),
            dir: tmp.path().join("store/git"),
        };
        let first = source.fetch(None).unwrap().expect("a new commit");
        assert_eq!(first.sha.len(), 40);
        assert_eq!(first.author, "Ana <ana@example.com>");
        assert_eq!(first.summary, "first fleet");
        assert_eq!(
            std::fs::read_to_string(&first.fleet).unwrap(),
            "version: 1\n"
        );
        assert!(first.root.join("deploy/secrets/key").is_file());
        assert_eq!(source.fetch(Some(&first.sha)).unwrap(), None, "nothing new");

        std::fs::write(work.join("deploy/fleet.yaml"), "version: 1\n# two\n").unwrap();
        git(&work, &["commit", "-q", "-am", "second"]);
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
        let second = source
            .fetch(Some(&first.sha))
            .unwrap()
            .expect("the second commit");
        assert_ne!(second.sha, first.sha);
        assert!(
            std::fs::read_to_string(&second.fleet)
                .unwrap()
                .contains("two")
        );
        source.prune(&[&second.sha]);
        assert!(!first.root.exists() && second.root.exists());

        let elsewhere = GitSource {
            path: "nope.yaml".into(),
            ..source.clone()
        };
        let err = elsewhere.fetch(None).unwrap_err();
        assert!(err.to_string().contains("has no file `nope.yaml`"), "{err}");
        let branchless = GitSource {
            branch: "release".into(),
            ..source
        };
        assert!(matches!(
            branchless.fetch(None),
            Err(GitError::Repository { .. } | GitError::NoBranch { .. })
        ));
    }

    #[test]
    fn credentials_never_show_in_a_url() {
        assert_eq!(
            shown_url("https://ci:s3cret@git.example.com/ops/fleet.git"),
            "https://git.example.com/ops/fleet.git"
        );
        assert_eq!(
            shown_url("https://git.example.com/ops/fleet.git"),
            "https://git.example.com/ops/fleet.git"
        );
        assert_eq!(
            shown_url("git@host:ops/fleet.git"),
            "git@host:ops/fleet.git"
        );
    }

    #[test]
    fn a_token_goes_in_clear_to_loopback_only() {
        assert!(token_may_go_to("https://git.example.com/ops/fleet.git"));
        assert!(token_may_go_to("http://127.0.0.1:8080/ops/fleet.git"));
        assert!(token_may_go_to("http://ci@localhost/ops/fleet.git"));
        assert!(!token_may_go_to("http://git.example.com/ops/fleet.git"));
        assert!(!token_may_go_to("HTTP://10.0.0.5:3000/ops/fleet.git"));
    }

    #[test]
    fn only_plain_relative_paths_are_written() {
        assert_eq!(
            safe_path("deploy/fleet.yaml"),
            Some("deploy/fleet.yaml".into())
        );
        assert_eq!(safe_path("../etc/passwd"), None);
        assert_eq!(safe_path("/etc/passwd"), None);
        assert_eq!(safe_path("a/../../b"), None);
        assert_eq!(safe_path(""), None);
    }
}
