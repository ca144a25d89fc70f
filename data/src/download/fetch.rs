//! Fetching a dataset's files: each file is tried on the mirrors in order (over https; a plain
//! `http://` mirror only with [`Options::allow_http`]), streamed into a temporary file beside its
//! destination (with a progress bar when asked), checked against its published checksum (and its
//! announced length) and only then renamed into place durably, so an interrupted or corrupt
//! transfer never leaves a file under the final name. Files already present with the right
//! checksum are not fetched again. Archives are then extracted, their members' SHA-256 recorded
//! in a manifest ([`super::manifest`]) and the archives removed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::catalogue::{base_name, remote, Remote, RemoteFile, DATASETS_REMOTE};
use super::checksum::Hasher;
use super::manifest::Manifest;
use super::tar::extract;
use super::transport::{Fetch, NetFetch};
use crate::error::{DataError, Result};
use crate::root::download_root;

/// How [`download_with`] goes about it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Draw a progress bar and one line per file on stderr.
    pub progress: bool,
    /// Also use mirrors (and redirects) over plain `http://`; off by default: https only.
    pub allow_http: bool,
}

/// Downloads dataset `name` (one of [`DATASETS_REMOTE`]) into `<root>/<name>/` (root: default
/// [`download_root`]) over https, and returns that folder. `progress` draws a progress bar and
/// one line per file on stderr.
pub fn download(name: &str, root: Option<&Path>, progress: bool) -> Result<PathBuf> {
    download_opts(
        name,
        root,
        Options {
            progress,
            allow_http: false,
        },
    )
}

/// [`download`] with every [`Options`].
pub fn download_opts(name: &str, root: Option<&Path>, opts: Options) -> Result<PathBuf> {
    let spec = remote(name).ok_or_else(|| DataError::UnknownDataset {
        name: name.into(),
        known: DATASETS_REMOTE.join(", "),
    })?;
    let root = match root {
        Some(r) => r.to_path_buf(),
        None => download_root()?,
    };
    let fetch = if opts.allow_http {
        NetFetch::new().allowing_http()
    } else {
        NetFetch::new()
    };
    download_with(spec, &root, opts, &fetch)
}

/// [`download`] of any [`Remote`] through any [`Fetch`].
pub fn download_with(
    spec: &Remote,
    root: &Path,
    opts: Options,
    fetch: &dyn Fetch,
) -> Result<PathBuf> {
    let progress = opts.progress;
    let dir = root.join(spec.name);
    if !spec.extract.is_empty() && spec.missing(&dir).is_none() {
        let checked = Manifest::read(&dir)
            .and_then(|m| m.verify_all(&dir, spec.extract, "extracting it again"));
        match checked {
            Ok(()) => {
                note(
                    progress,
                    format_args!("{}: already in {}, SHA-256 ok", spec.name, dir.display()),
                );
                return Ok(dir);
            }
            Err(e @ (DataError::Corrupt { .. } | DataError::Malformed { .. })) => {
                note(progress, format_args!("{e:#}"));
            }
            Err(e) => return Err(e),
        }
    }
    let created = create_dir_durably(&dir)?;
    for f in spec.files {
        if let Err(e) = fetch_file(spec, f, &dir, opts, fetch) {
            if created {
                // Only succeeds when nothing was written: a folder made for nothing goes.
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    }
    if !spec.extract.is_empty() {
        let mut found = vec![None; spec.extract.len()];
        for f in spec.files {
            extract(&dir.join(f.name), &dir, spec.extract, &mut found)?;
        }
        let mut hashes = Vec::with_capacity(found.len());
        for (m, hash) in spec.extract.iter().zip(found) {
            let Some(hash) = hash else {
                let archives: Vec<_> = spec.files.iter().map(|f| f.name).collect();
                return Err(DataError::malformed(
                    dir.join(archives[0]).display().to_string(),
                    format!("no member {} in {}", m.path, archives.join(", ")),
                ));
            };
            hashes.push((base_name(m.path), hash));
        }
        // The manifest before the archive goes: a crash in between extracts again.
        Manifest::write(&dir, &hashes)?;
        for f in spec.files {
            let p = dir.join(f.name);
            durable::remove_file(&p).map_err(|e| DataError::io(&p, e))?;
        }
        note(
            progress,
            format_args!("{}: extracted into {}", spec.name, dir.display()),
        );
    }
    Ok(dir)
}

/// Creates `dir` and the folders above it that are missing, each made durable in its parent;
/// whether `dir` itself was created.
fn create_dir_durably(dir: &Path) -> Result<bool> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            durable::sync_dir(parent).map_err(|e| DataError::io(parent, e))?;
        }
    }
    Ok(!missing.is_empty())
}

fn note(progress: bool, msg: std::fmt::Arguments) {
    if progress {
        eprintln!("{msg}");
    }
}

/// The URL of `file` on `mirror`.
pub fn url_of(mirror: &str, file: &str) -> String {
    if mirror.ends_with('/') {
        format!("{mirror}{file}")
    } else {
        format!("{mirror}/{file}")
    }
}

/// A failed attempt: `Remote` moves on to the next mirror, `Local` (the disk) stops everything.
enum Attempt {
    Remote(String),
    Local(DataError),
}

fn fetch_file(
    spec: &Remote,
    file: &RemoteFile,
    dir: &Path,
    opts: Options,
    fetch: &dyn Fetch,
) -> Result<()> {
    let progress = opts.progress;
    let dest = dir.join(file.name);
    if dest.is_file() {
        let got = std::fs::File::open(&dest)
            .and_then(|f| file.checksum.digest(f))
            .map_err(|e| DataError::io(&dest, e))?;
        if file.checksum.matches(&got) {
            note(
                progress,
                format_args!("{}: {} already present, checksum ok", spec.name, file.name),
            );
            return Ok(());
        }
        note(
            progress,
            format_args!(
                "{}: {} present but its {} is {got}, expected {}: downloading it again",
                spec.name,
                file.name,
                file.checksum.algorithm(),
                file.checksum.expected()
            ),
        );
    }
    let mut failures = Vec::new();
    for mirror in spec.mirrors {
        let url = url_of(mirror, file.name);
        if url.starts_with("http://") && !opts.allow_http {
            let why = "plain http refused (--allow-http uses it)";
            note(progress, format_args!("{url}: {why}"));
            failures.push(format!("{url}: {why}"));
            continue;
        }
        match attempt(&url, file, dir, &dest, progress, fetch) {
            Ok(bytes) => {
                note(
                    progress,
                    format_args!(
                        "{}: {} ({bytes} bytes) from {url}, {} ok",
                        spec.name,
                        file.name,
                        file.checksum.algorithm()
                    ),
                );
                return Ok(());
            }
            Err(Attempt::Local(e)) => return Err(e),
            Err(Attempt::Remote(why)) => {
                note(progress, format_args!("{url}: {why}"));
                failures.push(format!("{url}: {why}"));
            }
        }
    }
    Err(DataError::Download {
        dataset: spec.name.into(),
        what: if failures.is_empty() {
            format!("{}: no mirror to download it from", file.name)
        } else {
            format!(
                "{}: every mirror failed:\n  {}",
                file.name,
                failures.join("\n  ")
            )
        },
    })
}

fn bar(progress: bool, len: Option<u64>, name: &str) -> indicatif::ProgressBar {
    if !progress {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{msg} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_string());
    bar
}

/// One mirror: stream into a temporary file beside `dest` (in `dir`), check length and checksum,
/// then make it `dest` durably ([`durable::AtomicFile`]). The temporary file is removed on every
/// failure (it is deleted when dropped).
fn attempt(
    url: &str,
    file: &RemoteFile,
    dir: &Path,
    dest: &Path,
    progress: bool,
    fetch: &dyn Fetch,
) -> std::result::Result<u64, Attempt> {
    let mut resp = fetch
        .open(url)
        .map_err(|e| Attempt::Remote(e.to_string()))?;
    let mut tmp =
        durable::AtomicFile::create(dest).map_err(|e| Attempt::Local(DataError::io(dir, e)))?;
    let bar = bar(progress, resp.len, file.name);
    let mut hasher = Hasher::new(&file.checksum);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let streamed = loop {
        let n = match resp.body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break Err(Attempt::Remote(format!(
                    "network error after {total} bytes: {e}"
                )))
            }
        };
        hasher.update(&buf[..n]);
        if let Err(e) = tmp.write_all(&buf[..n]) {
            break Err(Attempt::Local(DataError::io(tmp.temp_path(), e)));
        }
        total += n as u64;
        bar.set_position(total);
    };
    bar.finish_and_clear();
    streamed?;
    if let Some(len) = resp.len {
        if total != len {
            return Err(Attempt::Remote(format!(
                "truncated: received {total} of {len} bytes"
            )));
        }
    }
    let got = hasher.finish();
    if !file.checksum.matches(&got) {
        return Err(Attempt::Remote(format!(
            "checksum mismatch: expected {} {}, got {got} ({total} bytes received)",
            file.checksum.algorithm(),
            file.checksum.expected()
        )));
    }
    tmp.commit()
        .map_err(|e| Attempt::Local(DataError::io(dest, e)))?;
    Ok(total)
}
