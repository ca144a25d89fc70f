//! Downloading the full MNIST, Fashion-MNIST and CIFAR-10 from their usual mirrors, and loading
//! them by name once they are there.
//!
//! | name | files in `<root>/<name>/` | train | test | example shape |
//! |---|---|---|---|---|
//! | `mnist` | `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` | 60,000 | 10,000 | `[1, 28, 28]` |
//! | `fashion-mnist` | the same names | 60,000 | 10,000 | `[1, 28, 28]` |
//! | `cifar10` | `data_batch_{1..5}.bin`, `test_batch.bin` | 50,000 | 10,000 | `[3, 32, 32]` |
//!
//! Pixels are scaled to [0, 1]; all have 10 classes. [`download`] tries the mirrors in order,
//! streams each file into a temporary file beside its destination (with a progress bar when
//! asked), checks its MD5 against the published value and only then renames it into place, so an
//! interrupted or corrupt transfer never leaves a file under the final name. Files already present
//! with the right checksum are not fetched again. CIFAR-10 comes as one `tar.gz`; its six batch
//! files are extracted (each checked for its exact size) and the archive is then removed.
//!
//! The transfer sits behind the [`Fetch`] trait: [`NetFetch`] is the network (HTTP and HTTPS with
//! the `http` feature, on by default, and `file://` URLs always); tests serve bytes from memory.
//! Nothing else in the crate touches the network.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::bundled::{data_root, read_idx_pair};
use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::{bundled, cifar};

/// Names accepted by [`download`] (and by [`crate::load`] once downloaded).
pub const DATASETS_REMOTE: [&str; 3] = ["mnist", "fashion-mnist", "cifar10"];

/// A published checksum (lowercase or uppercase hex).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    Md5(&'static str),
    Sha256(&'static str),
}

impl Checksum {
    /// The algorithm's name: `md5` or `sha256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Md5(_) => "md5",
            Checksum::Sha256(_) => "sha256",
        }
    }

    /// The expected digest as published.
    pub fn expected(&self) -> &'static str {
        match self {
            Checksum::Md5(h) | Checksum::Sha256(h) => h,
        }
    }

    /// Whether a lowercase hex digest is the expected one.
    pub fn matches(&self, hex: &str) -> bool {
        self.expected().eq_ignore_ascii_case(hex)
    }

    /// The digest (lowercase hex) of everything `r` yields.
    pub fn digest(&self, mut r: impl Read) -> std::io::Result<String> {
        let mut h = Hasher::new(self);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return Ok(h.finish()),
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

enum Hasher {
    Md5(md5::Md5),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(c: &Checksum) -> Self {
        use sha2::Digest;
        match c {
            Checksum::Md5(_) => Hasher::Md5(md5::Md5::new()),
            Checksum::Sha256(_) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Md5(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }

    fn finish(self) -> String {
        use sha2::Digest;
        let bytes: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A file as published on the mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: &'static str,
    pub checksum: Checksum,
}

/// A member of a downloaded archive that is kept, under its base name, with its exact size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Path inside the archive.
    pub path: &'static str,
    pub size: u64,
}

/// How the files of a downloaded dataset are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-…` (IDX, gzipped).
    Idx,
    /// CIFAR-10 binary batches: every member but the last is training data, the last is the test
    /// set.
    CifarBinary,
}

/// A downloadable dataset: where it comes from, what it is made of, how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote {
    pub name: &'static str,
    /// One line: content, source and licence.
    pub about: &'static str,
    /// Base URLs, tried in order; a file's URL is the base joined with its name.
    pub mirrors: &'static [&'static str],
    pub files: &'static [RemoteFile],
    /// When not empty the files are `tar.gz` archives: these members are extracted into the
    /// dataset folder and the archives removed.
    pub extract: &'static [Member],
    pub format: Format,
}

const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

const CIFAR_BATCH: u64 = 10_000 * cifar::RECORD as u64;

/// The downloadable datasets (checksums as published by the authors and used by torchvision).
pub const REMOTE: [Remote; 3] = [
    Remote {
        name: "mnist",
        about: "MNIST digits, 60,000 + 10,000, 28x28 grey (LeCun, Cortes, Burges; CC BY-SA 3.0)",
        mirrors: &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        files: &[
            RemoteFile {
                name: MNIST_FILES[0],
                checksum: Checksum::Md5("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            },
            RemoteFile {
                name: MNIST_FILES[1],
                checksum: Checksum::Md5("d53e105ee54ea40749a09fcbcd1e9432"),
            },
            RemoteFile {
                name: MNIST_FILES[2],
                checksum: Checksum::Md5("9fb629c4189551a2d022fa330f9573f3"),
            },
            RemoteFile {
                name: MNIST_FILES[3],
                checksum: Checksum::Md5("ec29112dd5afa0611ce80d1b7f02629c"),
            },
        ],
        extract: &[],
        format: Format::Idx,
    },
    Remote {
        name: "fashion-mnist",
        about: "Fashion-MNIST clothing, 60,000 + 10,000, 28x28 grey (Zalando Research; MIT)",
        mirrors: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        files: &[
            RemoteFile {
                name: MNIST_FILES[0],
                checksum: Checksum::Md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            },
            RemoteFile {
                name: MNIST_FILES[1],
                checksum: Checksum::Md5("25c81989df183df01b3e8a0aad5dffbe"),
            },
            RemoteFile {
                name: MNIST_FILES[2],
                checksum: Checksum::Md5("bef4ecab320f06d8554ea6380940ec79"),
            },
            RemoteFile {
                name: MNIST_FILES[3],
                checksum: Checksum::Md5("bb300cfdad3c16e7a12a480ee83cd310"),
            },
        ],
        extract: &[],
        format: Format::Idx,
    },
    Remote {
        name: "cifar10",
        about: "CIFAR-10 objects, 50,000 + 10,000, 32x32 colour (Krizhevsky, Nair, Hinton)",
        mirrors: &["https://www.cs.toronto.edu/~kriz/"],
        files: &[RemoteFile {
            name: "cifar-10-binary.tar.gz",
            checksum: Checksum::Md5("c32a1d4ab5d03f1284b67883e8d87530"),
        }],
        extract: &[
            Member {
                path: "cifar-10-batches-bin/data_batch_1.bin",
                size: CIFAR_BATCH,
            },
            Member {
                path: "cifar-10-batches-bin/data_batch_2.bin",
                size: CIFAR_BATCH,
            },
            Member {
                path: "cifar-10-batches-bin/data_batch_3.bin",
                size: CIFAR_BATCH,
            },
            Member {
                path: "cifar-10-batches-bin/data_batch_4.bin",
                size: CIFAR_BATCH,
            },
            Member {
                path: "cifar-10-batches-bin/data_batch_5.bin",
                size: CIFAR_BATCH,
            },
            Member {
                path: "cifar-10-batches-bin/test_batch.bin",
                size: CIFAR_BATCH,
            },
        ],
        format: Format::CifarBinary,
    },
];

/// The description of a downloadable dataset.
pub fn remote(name: &str) -> Option<&'static Remote> {
    REMOTE.iter().find(|r| r.name == name)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Remote {
    /// The files the loader reads, relative to the dataset folder.
    pub fn local_files(&self) -> Vec<&'static str> {
        if self.extract.is_empty() {
            self.files.iter().map(|f| f.name).collect()
        } else {
            self.extract.iter().map(|m| base_name(m.path)).collect()
        }
    }

    /// The first file the loader needs that is absent from `dir` (or, for extracted members, of
    /// the wrong size); `None` when everything is there. Checksums are not recomputed here.
    pub fn missing(&self, dir: &Path) -> Option<PathBuf> {
        if self.extract.is_empty() {
            self.files
                .iter()
                .map(|f| dir.join(f.name))
                .find(|p| !p.is_file())
        } else {
            self.extract
                .iter()
                .map(|m| (dir.join(base_name(m.path)), m.size))
                .find(|(p, size)| std::fs::metadata(p).map_or(true, |md| md.len() != *size))
                .map(|(p, _)| p)
        }
    }
}

/// A transfer that has started: its length when known, and the body.
pub struct Response {
    pub len: Option<u64>,
    pub body: Box<dyn Read>,
}

/// Why a transfer could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The server answered with an error status.
    Status { code: u16, text: String },
    /// No answer: DNS, connection, TLS, missing local file, unsupported scheme, ...
    Network(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status { code, text } => write!(f, "HTTP status {code} {text}"),
            FetchError::Network(e) => write!(f, "network error: {e}"),
        }
    }
}

/// Opens URLs for reading.
pub trait Fetch {
    fn open(&self, url: &str) -> std::result::Result<Response, FetchError>;
}

/// The real transfer: `http://` and `https://` (with the `http` feature; rustls with the Mozilla
/// roots, the proxy from `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` for [`NetFetch::new`]) and
/// `file://` paths.
pub struct NetFetch {
    #[cfg(feature = "http")]
    agent: ureq::Agent,
}

impl Default for NetFetch {
    fn default() -> Self {
        Self::new()
    }
}

impl NetFetch {
    /// Connect timeout 30 s, and 60 s without a byte read; proxy from the environment.
    pub fn new() -> Self {
        Self::build(true)
    }

    /// As [`NetFetch::new`] but never through a proxy.
    pub fn direct() -> Self {
        Self::build(false)
    }

    #[allow(unused_variables)]
    fn build(proxy_from_env: bool) -> Self {
        NetFetch {
            #[cfg(feature = "http")]
            agent: ureq::AgentBuilder::new()
                .timeout_connect(std::time::Duration::from_secs(30))
                .timeout_read(std::time::Duration::from_secs(60))
                .user_agent(concat!("gradlab/", env!("CARGO_PKG_VERSION")))
                .try_proxy_from_env(proxy_from_env)
                .build(),
        }
    }
}

impl Fetch for NetFetch {
    fn open(&self, url: &str) -> std::result::Result<Response, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            let f = std::fs::File::open(path)
                .map_err(|e| FetchError::Network(format!("cannot open {path}: {e}")))?;
            let len = f.metadata().ok().map(|m| m.len());
            return Ok(Response {
                len,
                body: Box::new(f),
            });
        }
        #[cfg(feature = "http")]
        if url.starts_with("http://") || url.starts_with("https://") {
            return match self.agent.get(url).call() {
                Ok(resp) => {
                    let len = resp
                        .header("Content-Length")
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    Ok(Response {
                        len,
                        body: Box::new(resp.into_reader()),
                    })
                }
                Err(ureq::Error::Status(code, resp)) => Err(FetchError::Status {
                    code,
                    text: resp.status_text().to_string(),
                }),
                Err(ureq::Error::Transport(t)) => {
                    // Its Display repeats the URL, which the caller already names.
                    let mut why = t.kind().to_string();
                    if let Some(m) = t.message() {
                        why += &format!(": {m}");
                    }
                    if let Some(src) = std::error::Error::source(&t) {
                        why += &format!(": {src}");
                    }
                    Err(FetchError::Network(why))
                }
            };
        }
        Err(FetchError::Network(format!(
            "unsupported URL scheme (supported: {})",
            if cfg!(feature = "http") {
                "http://, https://, file://"
            } else {
                "file:// — built without the `http` feature"
            }
        )))
    }
}

/// Downloads dataset `name` (one of [`DATASETS_REMOTE`]) into `<root>/<name>/` (root: default
/// [`data_root`]) over the network, and returns that folder. `progress` draws a progress bar
/// and one line per file on stderr.
pub fn download(name: &str, root: Option<&Path>, progress: bool) -> Result<PathBuf> {
    let spec = remote(name).ok_or_else(|| DataError::UnknownDataset {
        name: name.into(),
        known: DATASETS_REMOTE.join(", "),
    })?;
    let root = root.map_or_else(data_root, Path::to_path_buf);
    download_with(spec, &root, progress, &NetFetch::new())
}

/// [`download`] of any [`Remote`] through any [`Fetch`].
pub fn download_with(
    spec: &Remote,
    root: &Path,
    progress: bool,
    fetch: &dyn Fetch,
) -> Result<PathBuf> {
    let dir = root.join(spec.name);
    if !spec.extract.is_empty() && spec.missing(&dir).is_none() {
        note(
            progress,
            format_args!("{}: already in {}", spec.name, dir.display()),
        );
        return Ok(dir);
    }
    let created = !dir.exists();
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    for f in spec.files {
        if let Err(e) = fetch_file(spec, f, &dir, progress, fetch) {
            if created {
                // Only succeeds when nothing was written: a folder made for nothing goes.
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    }
    if !spec.extract.is_empty() {
        let mut found = vec![false; spec.extract.len()];
        for f in spec.files {
            extract(&dir.join(f.name), &dir, spec.extract, &mut found)?;
        }
        if let Some(i) = found.iter().position(|f| !f) {
            let archives: Vec<_> = spec.files.iter().map(|f| f.name).collect();
            return Err(DataError::malformed(
                dir.join(archives[0]).display().to_string(),
                format!(
                    "no member {} in {}",
                    spec.extract[i].path,
                    archives.join(", ")
                ),
            ));
        }
        for f in spec.files {
            let p = dir.join(f.name);
            std::fs::remove_file(&p).map_err(|e| DataError::io(&p, e))?;
        }
        note(
            progress,
            format_args!("{}: extracted into {}", spec.name, dir.display()),
        );
    }
    Ok(dir)
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
    progress: bool,
    fetch: &dyn Fetch,
) -> Result<()> {
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

/// One mirror: stream into a temporary file in `dir`, check length and checksum, rename to
/// `dest`. The temporary file is removed on every failure (it is deleted when dropped).
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
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file.name))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| Attempt::Local(DataError::io(dir, e)))?;
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
            break Err(Attempt::Local(DataError::io(tmp.path(), e)));
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
    tmp.as_file()
        .sync_all()
        .map_err(|e| Attempt::Local(DataError::io(tmp.path(), e)))?;
    tmp.persist(dest)
        .map_err(|e| Attempt::Local(DataError::io(dest, e.error)))?;
    Ok(total)
}

/// Reads as many bytes as `buf` holds; `Ok(false)` at a clean end of input before the first byte.
fn read_block(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn octal(field: &[u8]) -> Option<u64> {
    let s: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Extracts the wanted members of a `tar.gz` archive into `dir` under their base names (each
/// through a temporary file, checked for its exact size); marks them in `found`. Only regular
/// files named in `members` are written: nothing else in the archive reaches the disk. Reads
/// ustar, GNU and pax archives whose member names fit the 100 (+155 prefix) bytes of the header
/// (pax extended headers and GNU long names are skipped, not applied).
fn extract(archive: &Path, dir: &Path, members: &[Member], found: &mut [bool]) -> Result<()> {
    let file = archive.display().to_string();
    let f = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut r = std::io::BufReader::new(flate2::read::GzDecoder::new(f));
    let stream_err =
        |e: std::io::Error| DataError::malformed(&file, format!("gzip/tar stream: {e}"));
    let mut offset = 0u64;
    let mut header = [0u8; 512];
    loop {
        if !read_block(&mut r, &mut header).map_err(stream_err)? || header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let stored = octal(&header[148..156]);
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    b as u64
                }
            })
            .sum();
        if stored != Some(sum) {
            return Err(DataError::malformed(
                &file,
                format!("tar header at byte {offset}: bad checksum"),
            ));
        }
        let mut name = text(&header[0..100]);
        // POSIX ustar ("ustar\0") keeps a name prefix at 345; GNU ("ustar  \0") keeps other
        // fields there.
        if &header[257..263] == b"ustar\0" {
            let prefix = text(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let name = name.trim_start_matches("./");
        let size = octal(&header[124..136]).ok_or_else(|| {
            DataError::malformed(&file, format!("tar member {name}: unreadable size field"))
        })?;
        let kind = header[156];
        let padded = size.div_ceil(512) * 512;
        offset += 512;
        let wanted = members.iter().position(|m| m.path == name);
        match wanted {
            Some(i) if kind == b'0' || kind == 0 => {
                let m = &members[i];
                if size != m.size {
                    return Err(DataError::malformed(
                        &file,
                        format!("member {name} holds {size} bytes, expected {}", m.size),
                    ));
                }
                let dest = dir.join(base_name(m.path));
                let mut tmp = tempfile::Builder::new()
                    .prefix(&format!(".{}.", base_name(m.path)))
                    .suffix(".part")
                    .tempfile_in(dir)
                    .map_err(|e| DataError::io(dir, e))?;
                let copied = std::io::copy(&mut (&mut r).take(size), &mut tmp)
                    .map_err(|e| DataError::malformed(&file, format!("member {name}: {e}")))?;
                if copied != size {
                    return Err(DataError::malformed(
                        &file,
                        format!("member {name} cut short: {copied} of {size} bytes"),
                    ));
                }
                tmp.persist(&dest)
                    .map_err(|e| DataError::io(&dest, e.error))?;
                found[i] = true;
                skip(&mut r, padded - size, &file)?;
            }
            _ => skip(&mut r, padded, &file)?,
        }
        offset += padded;
    }
}

fn skip(r: &mut impl Read, n: u64, file: &str) -> Result<()> {
    let skipped = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| DataError::malformed(file, format!("gzip/tar stream: {e}")))?;
    if skipped != n {
        return Err(DataError::malformed(file, "tar archive cut short"));
    }
    Ok(())
}

/// What to tell a user whose dataset is not there yet.
fn hint(name: &str, root: &Path) -> String {
    let flag = if root == data_root() {
        String::new()
    } else {
        format!(" --root {}", root.display())
    };
    format!("get it with `gradlab data download {name}{flag}` or `download = true` in a run's [data] section")
}

/// Loads a downloaded dataset from `<root>/<name>/`.
pub fn load_remote(name: &str, root: &Path) -> Result<Split> {
    let spec = remote(name).ok_or_else(|| DataError::UnknownDataset {
        name: name.into(),
        known: DATASETS_REMOTE.join(", "),
    })?;
    load_spec(spec, root)
}

/// Loads the dataset `spec` describes from `<root>/<spec.name>/`.
pub fn load_spec(spec: &Remote, root: &Path) -> Result<Split> {
    let dir = root.join(spec.name);
    if let Some(missing) = spec.missing(&dir) {
        return Err(DataError::NotDownloaded {
            dataset: spec.name.into(),
            missing: missing.display().to_string(),
            hint: hint(spec.name, root),
        });
    }
    let name = spec.name;
    match spec.format {
        Format::Idx => {
            let pair = |prefix: &str| {
                read_idx_pair(
                    &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
                    &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
                    &format!("{name}/{prefix}"),
                    10,
                )
            };
            Ok(Split {
                train: pair("train")?,
                test: pair("t10k")?,
            })
        }
        Format::CifarBinary => {
            let files: Vec<PathBuf> = spec.local_files().iter().map(|f| dir.join(f)).collect();
            let (test, train) = files.split_last().ok_or_else(|| {
                DataError::malformed(dir.display().to_string(), "no batch files listed")
            })?;
            Ok(Split {
                train: cifar::read_dataset(train, &format!("{name}/train"))?,
                test: cifar::read_dataset(std::slice::from_ref(test), &format!("{name}/test"))?,
            })
        }
    }
}

/// Whether `name` (bundled or downloadable) has its files under `root`, and where they are.
pub fn location(name: &str, root: &Path) -> Option<(PathBuf, bool)> {
    if let Some(spec) = remote(name) {
        let dir = root.join(name);
        let present = spec.missing(&dir).is_none();
        return Some((dir, present));
    }
    bundled::DATASETS
        .contains(&name)
        .then(|| root.join(name))
        .map(|d| {
            let present = d.is_dir();
            (d, present)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Serves bytes from memory; a URL it does not know answers 404. Records every URL opened.
    #[derive(Default)]
    struct Memory {
        files: HashMap<String, Vec<u8>>,
        /// URLs that fail before any byte (a network error), or that declare more bytes than sent.
        down: Vec<String>,
        short: Vec<String>,
        /// URLs whose connection drops after 3 bytes.
        broken: Vec<String>,
        opened: RefCell<Vec<String>>,
    }

    struct Broken(usize);

    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::ErrorKind::ConnectionReset.into());
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }

    impl Fetch for Memory {
        fn open(&self, url: &str) -> std::result::Result<Response, FetchError> {
            self.opened.borrow_mut().push(url.to_string());
            if self.down.iter().any(|u| u == url) {
                return Err(FetchError::Network("connection refused".into()));
            }
            if self.broken.iter().any(|u| u == url) {
                return Ok(Response {
                    len: None,
                    body: Box::new(Broken(3)),
                });
            }
            match self.files.get(url) {
                Some(b) => {
                    let declared = b.len() as u64 + self.short.iter().any(|u| u == url) as u64;
                    Ok(Response {
                        len: Some(declared),
                        body: Box::new(std::io::Cursor::new(b.clone())),
                    })
                }
                None => Err(FetchError::Status {
                    code: 404,
                    text: "Not Found".into(),
                }),
            }
        }
    }

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    fn md5_of(b: &[u8]) -> &'static str {
        let h = Checksum::Md5("").digest(b).unwrap();
        Box::leak(h.into_boxed_str())
    }

    fn spec(files: &'static [RemoteFile], mirrors: &'static [&'static str]) -> Remote {
        Remote {
            name: "toy",
            about: "test",
            mirrors,
            files,
            extract: &[],
            format: Format::Idx,
        }
    }

    /// Names of the entries left in a folder, sorted.
    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn digests_of_known_vectors() {
        // RFC 1321 and FIPS 180-2 test vectors.
        assert_eq!(
            Checksum::Md5("").digest(&b""[..]).unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            Checksum::Md5("").digest(&b"abc"[..]).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            Checksum::Sha256("").digest(&b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // A digest longer than one read buffer: 200,000 'a' (md5sum of `head -c 200000`).
        let long = vec![b'a'; 200_000];
        assert_eq!(
            Checksum::Md5("").digest(&long[..]).unwrap(),
            "561b1994f6baacd6e5eaf4baaa12849f"
        );
        assert!(Checksum::Md5("900150983CD24FB0D6963F7D28E17F72")
            .matches("900150983cd24fb0d6963f7d28e17f72"));
    }

    #[test]
    fn published_table_is_consistent() {
        assert_eq!(REMOTE.map(|r| r.name), DATASETS_REMOTE);
        for r in &REMOTE {
            assert!(!r.mirrors.is_empty(), "{}", r.name);
            for f in r.files {
                let hex = f.checksum.expected();
                assert_eq!(hex.len(), 32, "{} {}", r.name, f.name);
                assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        assert_eq!(
            url_of(REMOTE[0].mirrors[0], REMOTE[0].files[0].name),
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
        );
        assert_eq!(url_of("file:///x", "a.gz"), "file:///x/a.gz");
        assert_eq!(
            remote("cifar10").unwrap().local_files(),
            vec![
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
                "test_batch.bin"
            ]
        );
        assert_eq!(remote("cifar10").unwrap().extract[0].size, 30_730_000);
        assert!(remote("cifar").is_none());
        let e = download("cifar", None, false).unwrap_err();
        assert!(
            matches!(e, DataError::UnknownDataset { .. }) && e.to_string().contains("cifar10"),
            "{e}"
        );
    }

    #[test]
    fn good_file_is_verified_and_renamed_into_place() {
        let root = tempfile::tempdir().unwrap();
        let a = b"first file".to_vec();
        let b = vec![7u8; 100_000];
        let files = leak([
            RemoteFile {
                name: "a.gz",
                checksum: Checksum::Md5(md5_of(&a)),
            },
            RemoteFile {
                name: "b.bin",
                checksum: Checksum::Sha256(Box::leak(
                    Checksum::Sha256("")
                        .digest(&b[..])
                        .unwrap()
                        .into_boxed_str(),
                )),
            },
        ]);
        let s = spec(files, &["https://m1/x/"]);
        let mut m = Memory::default();
        m.files.insert("https://m1/x/a.gz".into(), a.clone());
        m.files.insert("https://m1/x/b.bin".into(), b.clone());
        let dir = download_with(&s, root.path(), false, &m).unwrap();
        assert_eq!(dir, root.path().join("toy"));
        assert_eq!(std::fs::read(dir.join("a.gz")).unwrap(), a);
        assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), b);
        // Nothing else (no temporary file) is left.
        assert_eq!(entries(&dir), vec!["a.gz", "b.bin"]);
        assert_eq!(s.missing(&dir), None);

        // Present and valid: skipped, nothing opened.
        m.opened.borrow_mut().clear();
        download_with(&s, root.path(), false, &m).unwrap();
        assert!(m.opened.borrow().is_empty(), "{:?}", m.opened.borrow());

        // One file damaged on disk: only that one is fetched again, and repaired.
        std::fs::write(dir.join("b.bin"), b"damaged").unwrap();
        download_with(&s, root.path(), false, &m).unwrap();
        assert_eq!(*m.opened.borrow(), vec!["https://m1/x/b.bin".to_string()]);
        assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), b);
    }

    #[test]
    fn corrupt_file_is_rejected_with_both_checksums_and_nothing_left() {
        let root = tempfile::tempdir().unwrap();
        let good = b"the real thing".to_vec();
        let bad = b"the real thinG".to_vec();
        let expected = md5_of(&good);
        let files = leak([RemoteFile {
            name: "a.gz",
            checksum: Checksum::Md5(expected),
        }]);
        let s = spec(files, &["https://m1/"]);
        let mut m = Memory::default();
        m.files.insert("https://m1/a.gz".into(), bad.clone());
        let e = download_with(&s, root.path(), false, &m).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::Download { .. }), "{msg}");
        for part in [
            "toy",
            "https://m1/a.gz",
            "checksum mismatch",
            expected,
            md5_of(&bad),
            "14 bytes",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
        assert!(!root.path().join("toy").exists());
    }

    #[test]
    fn falls_back_to_later_mirrors_and_lists_every_failure() {
        let root = tempfile::tempdir().unwrap();
        let body = b"payload".to_vec();
        let files = leak([RemoteFile {
            name: "f.gz",
            checksum: Checksum::Md5(md5_of(&body)),
        }]);
        let mirrors: &'static [&'static str] = &[
            "https://down/",
            "https://gone",
            "https://reset/",
            "https://ok/",
        ];
        let s = spec(files, mirrors);
        let mut m = Memory::default();
        m.down.push("https://down/f.gz".into());
        m.broken.push("https://reset/f.gz".into());
        m.files.insert("https://ok/f.gz".into(), body.clone());
        download_with(&s, root.path(), false, &m).unwrap();
        assert_eq!(
            *m.opened.borrow(),
            vec![
                "https://down/f.gz",
                "https://gone/f.gz",
                "https://reset/f.gz",
                "https://ok/f.gz"
            ]
        );
        assert_eq!(entries(&root.path().join("toy")), vec!["f.gz"]);
        assert_eq!(std::fs::read(root.path().join("toy/f.gz")).unwrap(), body);

        // Every mirror failing: each one is named with its reason, and nothing is left.
        let root = tempfile::tempdir().unwrap();
        let mut m = Memory::default();
        m.down.push("https://down/f.gz".into());
        m.broken.push("https://reset/f.gz".into());
        m.files.insert("https://ok/f.gz".into(), body.clone());
        m.short.push("https://ok/f.gz".into());
        let e = download_with(&s, root.path(), false, &m).unwrap_err();
        let msg = e.to_string();
        for part in [
            "f.gz: every mirror failed",
            "https://down/f.gz: network error: connection refused",
            "https://gone/f.gz: HTTP status 404 Not Found",
            "https://reset/f.gz: network error after 3 bytes: connection reset",
            "https://ok/f.gz: truncated: received 7 of 8 bytes",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
        assert!(!root.path().join("toy").exists());
    }

    /// A tar archive (ustar) of `(path, bytes)` entries, gzipped; a path `prefix|name` is stored
    /// in the header's two name fields.
    pub(crate) fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (path, data) in entries {
            let mut h = [0u8; 512];
            let (prefix, path) = path.split_once('|').unwrap_or(("", path));
            h[..path.len()].copy_from_slice(path.as_bytes());
            h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
            h[100..108].copy_from_slice(b"0000644\0");
            h[108..116].copy_from_slice(b"0000000\0");
            h[116..124].copy_from_slice(b"0000000\0");
            h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            h[136..148].copy_from_slice(b"00000000000\0");
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| b as u32).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            tar.extend_from_slice(&h);
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.extend_from_slice(&[0; 1024]);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).unwrap();
        enc.finish().unwrap()
    }

    fn cifar_spec(archive_md5: &'static str, batch: u64) -> Remote {
        let members = leak([
            Member {
                path: "cifar-10-batches-bin/data_batch_1.bin",
                size: batch,
            },
            Member {
                path: "cifar-10-batches-bin/data_batch_2.bin",
                size: batch,
            },
            Member {
                path: "cifar-10-batches-bin/test_batch.bin",
                size: batch,
            },
        ]);
        Remote {
            name: "cifar10",
            about: "test",
            mirrors: &["https://m/"],
            files: leak([RemoteFile {
                name: "cifar-10-binary.tar.gz",
                checksum: Checksum::Md5(archive_md5),
            }]),
            extract: members,
            format: Format::CifarBinary,
        }
    }

    #[test]
    fn cifar_archive_is_extracted_then_loaded() {
        use crate::cifar::tests::record;
        let batch = |l: u8| [record(l, 0), record(l + 1, 50)].concat();
        let (b1, b2, t) = (batch(0), batch(4), batch(8));
        let readme = b"<html>readme</html>".to_vec();
        let archive = tar_gz(&[
            ("cifar-10-batches-bin/", b""),
            ("cifar-10-batches-bin/data_batch_1.bin", &b1),
            ("cifar-10-batches-bin/readme.html", &readme),
            ("cifar-10-batches-bin/data_batch_2.bin", &b2),
            ("cifar-10-batches-bin/test_batch.bin", &t),
        ]);
        let s = cifar_spec(md5_of(&archive), 2 * cifar::RECORD as u64);
        let root = tempfile::tempdir().unwrap();
        // Before: loading says how to get it.
        let e = load_spec(&s, root.path()).unwrap_err();
        assert!(matches!(e, DataError::NotDownloaded { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("data_batch_1.bin"), "{msg}");
        assert!(
            msg.contains(&format!(
                "gradlab data download cifar10 --root {}",
                root.path().display()
            )),
            "{msg}"
        );
        assert!(msg.contains("download = true"), "{msg}");

        let mut m = Memory::default();
        m.files
            .insert("https://m/cifar-10-binary.tar.gz".into(), archive.clone());
        let dir = download_with(&s, root.path(), false, &m).unwrap();
        // Only the three members, under their base names; archive and readme gone.
        assert_eq!(
            entries(&dir),
            vec!["data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"]
        );
        assert_eq!(std::fs::read(dir.join("data_batch_2.bin")).unwrap(), b2);
        let split = load_spec(&s, root.path()).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (4, 2));
        assert_eq!(split.train.labels().unwrap(), &[0, 1, 4, 5]);
        assert_eq!(split.test.labels().unwrap(), &[8, 9]);
        assert_eq!(split.train.shape, vec![3, 32, 32]);
        assert_eq!(split.train.example(1)[0], 50.0 / 255.0);
        assert_eq!(split.train.name, "cifar10/train");

        // Present: nothing fetched again.
        m.opened.borrow_mut().clear();
        download_with(&s, root.path(), false, &m).unwrap();
        assert!(m.opened.borrow().is_empty());

        // An archive (with a matching checksum) that lacks a member, or holds one of the wrong
        // size: errors naming the archive and the member.
        for (bad, what) in [
            (
                tar_gz(&[
                    ("cifar-10-batches-bin/data_batch_1.bin", &b1),
                    ("cifar-10-batches-bin/test_batch.bin", &t),
                ]),
                "no member cifar-10-batches-bin/data_batch_2.bin",
            ),
            (
                tar_gz(&[
                    ("cifar-10-batches-bin/data_batch_1.bin", &b1[..100]),
                    ("cifar-10-batches-bin/data_batch_2.bin", &b2),
                    ("cifar-10-batches-bin/test_batch.bin", &t),
                ]),
                "holds 100 bytes, expected 6146",
            ),
        ] {
            let root = tempfile::tempdir().unwrap();
            let s = cifar_spec(md5_of(&bad), 2 * cifar::RECORD as u64);
            let mut m = Memory::default();
            m.files
                .insert("https://m/cifar-10-binary.tar.gz".into(), bad);
            let e = download_with(&s, root.path(), false, &m).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
            assert!(e.to_string().contains("cifar-10-binary.tar.gz"), "{e}");
        }
    }

    #[test]
    fn tar_checksum_and_truncation_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let members = [Member {
            path: "x/a.bin",
            size: 600,
        }];
        let good = tar_gz(&[("x/a.bin", &[5u8; 600])]);
        // Decompress, flip a header byte, recompress: bad header checksum.
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&good[..])
            .read_to_end(&mut raw)
            .unwrap();
        let regz = |t: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(t).unwrap();
            enc.finish().unwrap()
        };
        let mut flipped = raw.clone();
        flipped[3] ^= 1;
        let p = dir.path().join("t.tar.gz");
        std::fs::write(&p, regz(&flipped)).unwrap();
        let e = extract(&p, dir.path(), &members, &mut [false]).unwrap_err();
        assert!(e.to_string().contains("byte 0: bad checksum"), "{e}");
        // Cut inside the member's data.
        std::fs::write(&p, regz(&raw[..512 + 300])).unwrap();
        let e = extract(&p, dir.path(), &members, &mut [false]).unwrap_err();
        assert!(e.to_string().contains("cut short: 300 of 600 bytes"), "{e}");
        assert!(!dir.path().join("a.bin").exists());
        // Intact: extracted; also with the directory in the ustar prefix field.
        for archive in [good, tar_gz(&[("x|a.bin", &[5u8; 600])])] {
            std::fs::write(&p, &archive).unwrap();
            let mut found = [false];
            extract(&p, dir.path(), &members, &mut found).unwrap();
            assert_eq!(found, [true]);
            assert_eq!(
                std::fs::read(dir.path().join("a.bin")).unwrap(),
                vec![5u8; 600]
            );
            std::fs::remove_file(dir.path().join("a.bin")).unwrap();
        }
    }

    /// Archives written by GNU tar (GNU and POSIX/pax formats; `testdata/make_tar_fixtures.sh`),
    /// laid out like the real CIFAR-10 one: a directory entry, the batches, a text file.
    #[test]
    fn archives_written_by_gnu_tar() {
        let members = [
            Member {
                path: "cifar-10-batches-bin/data_batch_1.bin",
                size: 2 * cifar::RECORD as u64,
            },
            Member {
                path: "cifar-10-batches-bin/test_batch.bin",
                size: cifar::RECORD as u64,
            },
        ];
        for fmt in ["gnu", "posix"] {
            let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata")
                .join(format!("cifar-{fmt}.tar.gz"));
            let dir = tempfile::tempdir().unwrap();
            let mut found = [false; 2];
            extract(&archive, dir.path(), &members, &mut found).unwrap();
            assert_eq!(found, [true, true], "{fmt}");
            assert_eq!(
                entries(dir.path()),
                vec!["data_batch_1.bin", "test_batch.bin"]
            );
            let b = cifar::read(dir.path().join("data_batch_1.bin")).unwrap();
            assert_eq!(b.labels, vec![2, 3]);
            // Pixel i of record `seed` is (seed + i) % 256.
            assert_eq!(b.x[cifar::PIXELS + 300], ((1 + 300) % 256) as f32 / 255.0);
            let t = cifar::read(dir.path().join("test_batch.bin")).unwrap();
            assert_eq!(t.labels, vec![7]);
            assert_eq!(t.x[0], 9.0 / 255.0);
        }
    }

    #[test]
    fn idx_datasets_load_once_present() {
        // The bundled mnist-10k files under the name "mnist" stand in for the download.
        let root = tempfile::tempdir().unwrap();
        let e = crate::load("fashion-mnist", Some(root.path())).unwrap_err();
        assert!(matches!(e, DataError::NotDownloaded { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("train-images-idx3-ubyte.gz is missing"),
            "{e}"
        );
        let d = root.path().join("mnist");
        std::fs::create_dir(&d).unwrap();
        for f in MNIST_FILES {
            std::fs::copy(data_root().join("mnist-10k").join(f), d.join(f)).unwrap();
        }
        let s = crate::load("mnist", Some(root.path())).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (8000, 2000));
        assert_eq!(s.train.shape, vec![1, 28, 28]);
        assert_eq!(s.test.name, "mnist/t10k");
        assert_eq!(location("mnist", root.path()), Some((d.clone(), true)));
        assert_eq!(
            location("cifar10", root.path()),
            Some((root.path().join("cifar10"), false))
        );
        assert_eq!(location("nope", root.path()), None);
    }

    #[test]
    fn file_urls_go_through_the_real_fetcher() {
        let src = tempfile::tempdir().unwrap();
        let body = vec![42u8; 70_000];
        std::fs::write(src.path().join("f.bin"), &body).unwrap();
        let mirror: &'static str =
            Box::leak(format!("file://{}/nothing-here/", src.path().display()).into_boxed_str());
        let mirror2: &'static str =
            Box::leak(format!("file://{}", src.path().display()).into_boxed_str());
        let files = leak([RemoteFile {
            name: "f.bin",
            checksum: Checksum::Md5(md5_of(&body)),
        }]);
        let mirrors = leak([mirror, mirror2]);
        let s = spec(files, mirrors);
        let root = tempfile::tempdir().unwrap();
        download_with(&s, root.path(), false, &NetFetch::direct()).unwrap();
        assert_eq!(std::fs::read(root.path().join("toy/f.bin")).unwrap(), body);
        let e = NetFetch::direct().open("ftp://x/y").err().unwrap();
        assert!(e.to_string().contains("unsupported URL scheme"), "{e}");
    }

    /// The HTTP client against a server on the loopback interface (no outside network).
    #[cfg(feature = "http")]
    #[test]
    fn http_status_length_and_body_over_loopback() {
        use std::io::BufRead;
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = (0..50_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
        let served = body.clone();
        let server = std::thread::spawn(move || {
            // Three requests: a 404, a good file, a response cut short.
            for _ in 0..3 {
                let (mut s, _) = listener.accept().unwrap();
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let (status, data, declared) = match path.as_str() {
                    "/ok/f.bin" => ("200 OK", served.clone(), served.len()),
                    "/short/f.bin" => ("200 OK", served[..1000].to_vec(), served.len()),
                    _ => ("404 Not Found", b"no".to_vec(), 2),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
                );
                s.write_all(head.as_bytes()).unwrap();
                s.write_all(&data).unwrap();
            }
        });
        let m = |p: &str| -> &'static str {
            Box::leak(format!("http://127.0.0.1:{port}/{p}/").into_boxed_str())
        };
        let files = leak([RemoteFile {
            name: "f.bin",
            checksum: Checksum::Md5(md5_of(&body)),
        }]);
        let root = tempfile::tempdir().unwrap();
        // 404, then the good one.
        let s = spec(files, leak([m("missing"), m("ok")]));
        download_with(&s, root.path(), false, &NetFetch::direct()).unwrap();
        assert_eq!(std::fs::read(root.path().join("toy/f.bin")).unwrap(), body);
        // Cut short: an error naming the URL, nothing left.
        let root = tempfile::tempdir().unwrap();
        let s = spec(files, leak([m("short")]));
        let e = download_with(&s, root.path(), false, &NetFetch::direct()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("http://127.0.0.1:{port}/short/f.bin")),
            "{msg}"
        );
        assert!(
            msg.contains("network error after 1000 bytes")
                || msg.contains("truncated: received 1000 of 50000 bytes"),
            "{msg}"
        );
        assert!(!root.path().join("toy").exists());
        server.join().unwrap();
    }
}
