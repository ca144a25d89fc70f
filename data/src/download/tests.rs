//! Tests of downloading and loading, against fetchers that serve bytes from memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use super::catalogue::MNIST_FILES;
use super::tar::extract;
use super::*;
use crate::cifar;
use crate::error::DataError;
use crate::root::data_root;

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

const QUIET: Options = Options {
    progress: false,
    allow_http: false,
};

const HTTP: Options = Options {
    progress: false,
    allow_http: true,
};

fn sha256_of(b: &[u8]) -> String {
    Checksum::Sha256("").digest(b).unwrap()
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
    let dir = download_with(&s, root.path(), QUIET, &m).unwrap();
    assert_eq!(dir, root.path().join("toy"));
    assert_eq!(std::fs::read(dir.join("a.gz")).unwrap(), a);
    assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), b);
    // Nothing else (no temporary file) is left.
    assert_eq!(entries(&dir), vec!["a.gz", "b.bin"]);
    assert_eq!(s.missing(&dir), None);

    // Present and valid: skipped, nothing opened.
    m.opened.borrow_mut().clear();
    download_with(&s, root.path(), QUIET, &m).unwrap();
    assert!(m.opened.borrow().is_empty(), "{:?}", m.opened.borrow());

    // One file damaged on disk: only that one is fetched again, and repaired.
    std::fs::write(dir.join("b.bin"), b"damaged").unwrap();
    download_with(&s, root.path(), QUIET, &m).unwrap();
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
    let e = download_with(&s, root.path(), QUIET, &m).unwrap_err();
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
    download_with(&s, root.path(), QUIET, &m).unwrap();
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
    let e = download_with(&s, root.path(), QUIET, &m).unwrap_err();
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
    let dir = download_with(&s, root.path(), QUIET, &m).unwrap();
    // Only the three members, under their base names, and their manifest; archive and readme
    // gone.
    assert_eq!(
        entries(&dir),
        vec![
            "SHA256SUMS",
            "data_batch_1.bin",
            "data_batch_2.bin",
            "test_batch.bin"
        ]
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
    download_with(&s, root.path(), QUIET, &m).unwrap();
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
        let e = download_with(&s, root.path(), QUIET, &m).unwrap_err();
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
    let e = extract(&p, dir.path(), &members, &mut [None]).unwrap_err();
    assert!(e.to_string().contains("byte 0: bad checksum"), "{e}");
    // Cut inside the member's data.
    std::fs::write(&p, regz(&raw[..512 + 300])).unwrap();
    let e = extract(&p, dir.path(), &members, &mut [None]).unwrap_err();
    assert!(e.to_string().contains("cut short: 300 of 600 bytes"), "{e}");
    assert!(!dir.path().join("a.bin").exists());
    // Intact: extracted; also with the directory in the ustar prefix field.
    for archive in [good, tar_gz(&[("x|a.bin", &[5u8; 600])])] {
        std::fs::write(&p, &archive).unwrap();
        let mut found = [None];
        extract(&p, dir.path(), &members, &mut found).unwrap();
        assert_eq!(found, [Some(sha256_of(&[5u8; 600]))]);
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
        let mut found = [None, None];
        extract(&archive, dir.path(), &members, &mut found).unwrap();
        assert!(found.iter().all(Option::is_some), "{fmt}");
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
    let mut sums = Vec::new();
    for f in MNIST_FILES {
        std::fs::copy(data_root().join("mnist-10k").join(f), d.join(f)).unwrap();
        sums.push(md5_of(&std::fs::read(d.join(f)).unwrap()));
    }
    // Under the catalogue's checksums these are not MNIST's files: see the test below. With
    // theirs, they load.
    let files = leak(MNIST_FILES.map(|name| RemoteFile {
        name,
        checksum: Checksum::Md5(sums[MNIST_FILES.iter().position(|f| *f == name).unwrap()]),
    }));
    let standin = Remote {
        files,
        ..*remote("mnist").unwrap()
    };
    let s = load_spec(&standin, root.path()).unwrap();
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

/// Regression: a downloaded file was only checked when it was downloaded; one changed since (a
/// failing disk, a partial copy) loaded as whatever it had become.
#[test]
fn downloaded_file_changed_since_is_detected_on_load() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("mnist");
    std::fs::create_dir(&d).unwrap();
    for f in MNIST_FILES {
        std::fs::copy(data_root().join("mnist-10k").join(f), d.join(f)).unwrap();
    }
    let e = crate::load("mnist", Some(root.path())).unwrap_err();
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    for part in [
        "mnist/train-images-idx3-ubyte.gz: corrupt",
        "the published one f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "gradlab data download mnist --root",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
}

/// Regression: extracted CIFAR batches were only checked for their size; a member changed
/// after extraction (same size) loaded silently. The manifest's SHA-256 catches it, on load and
/// when downloading again (which repairs it).
#[test]
fn extracted_cifar_member_corrupted_after_extraction_is_detected() {
    use crate::cifar::tests::record;
    let batch = |l: u8| [record(l, 0), record(l + 1, 50)].concat();
    let (b1, b2, t) = (batch(0), batch(4), batch(8));
    let archive = tar_gz(&[
        ("cifar-10-batches-bin/data_batch_1.bin", &b1),
        ("cifar-10-batches-bin/data_batch_2.bin", &b2),
        ("cifar-10-batches-bin/test_batch.bin", &t),
    ]);
    let s = cifar_spec(md5_of(&archive), 2 * cifar::RECORD as u64);
    let root = tempfile::tempdir().unwrap();
    let mut m = Memory::default();
    m.files
        .insert("https://m/cifar-10-binary.tar.gz".into(), archive.clone());
    let dir = download_with(&s, root.path(), QUIET, &m).unwrap();
    let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
    assert_eq!(
        manifest,
        format!(
            "{}  data_batch_1.bin\n{}  data_batch_2.bin\n{}  test_batch.bin\n",
            sha256_of(&b1),
            sha256_of(&b2),
            sha256_of(&t)
        )
    );
    // One pixel flipped in place: same size.
    let mut bad = b2.clone();
    bad[100] ^= 0x40;
    std::fs::write(dir.join("data_batch_2.bin"), &bad).unwrap();
    let e = load_spec(&s, root.path()).unwrap_err();
    assert!(matches!(e, DataError::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    for part in [
        "data_batch_2.bin: corrupt",
        &sha256_of(&bad),
        &sha256_of(&b2),
        "SHA256SUMS recorded",
        "get it again with `gradlab data download cifar10 --root",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    // Cut short: the wrong size, seen before anything is read.
    std::fs::write(dir.join("data_batch_2.bin"), &b2[..cifar::RECORD]).unwrap();
    let e = load_spec(&s, root.path()).unwrap_err();
    assert!(matches!(e, DataError::NotDownloaded { .. }), "{e}");
    // Downloading again notices, fetches the archive and repairs the member.
    std::fs::write(dir.join("data_batch_2.bin"), &bad).unwrap();
    m.opened.borrow_mut().clear();
    download_with(&s, root.path(), QUIET, &m).unwrap();
    assert_eq!(m.opened.borrow().len(), 1);
    assert_eq!(std::fs::read(dir.join("data_batch_2.bin")).unwrap(), b2);
    assert_eq!(load_spec(&s, root.path()).unwrap().train.len(), 4);
    // A manifest that lost an entry, or the manifest itself gone.
    std::fs::write(dir.join(MANIFEST), manifest.lines().next().unwrap()).unwrap();
    let e = load_spec(&s, root.path()).unwrap_err();
    assert!(
        e.to_string().contains("no entry for data_batch_2.bin"),
        "{e}"
    );
    std::fs::remove_file(dir.join(MANIFEST)).unwrap();
    let e = load_spec(&s, root.path()).unwrap_err();
    assert!(
        matches!(&e, DataError::NotDownloaded { missing, .. } if missing.ends_with(MANIFEST)),
        "{e}"
    );
}

/// Regression: Fashion-MNIST was fetched over plain http. Every catalogued mirror is https but
/// for that one fallback, and a plain-http mirror is refused unless allowed.
#[test]
fn plain_http_mirror_is_refused_unless_allowed() {
    for r in &REMOTE {
        assert!(r.mirrors[0].starts_with("https://"), "{}", r.name);
        for m in r.mirrors {
            assert!(
                m.starts_with("https://")
                    || *m == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "{m}"
            );
        }
    }
    let body = b"payload".to_vec();
    let files = leak([RemoteFile {
        name: "f.gz",
        checksum: Checksum::Md5(md5_of(&body)),
    }]);
    let s = spec(files, &["http://plain/"]);
    let mut m = Memory::default();
    m.files.insert("http://plain/f.gz".into(), body.clone());
    let root = tempfile::tempdir().unwrap();
    let e = download_with(&s, root.path(), QUIET, &m).unwrap_err();
    assert!(
        e.to_string()
            .contains("http://plain/f.gz: plain http refused (--allow-http uses it)"),
        "{e}"
    );
    assert!(m.opened.borrow().is_empty(), "{:?}", m.opened.borrow());
    assert!(!root.path().join("toy").exists());
    download_with(&s, root.path(), HTTP, &m).unwrap();
    assert_eq!(std::fs::read(root.path().join("toy/f.gz")).unwrap(), body);
    // The network fetcher refuses it too (no connection is attempted).
    let e = NetFetch::direct()
        .open("http://127.0.0.1:9/x")
        .err()
        .unwrap();
    assert!(e.to_string().contains("plain http refused"), "{e}");
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
    download_with(&s, root.path(), QUIET, &NetFetch::direct()).unwrap();
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
    download_with(&s, root.path(), HTTP, &NetFetch::direct().allowing_http()).unwrap();
    assert_eq!(std::fs::read(root.path().join("toy/f.bin")).unwrap(), body);
    // Cut short: an error naming the URL, nothing left.
    let root = tempfile::tempdir().unwrap();
    let s = spec(files, leak([m("short")]));
    let e = download_with(&s, root.path(), HTTP, &NetFetch::direct().allowing_http()).unwrap_err();
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
