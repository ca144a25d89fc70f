//! The catalogue of downloadable datasets: where each comes from (mirrors), the files published
//! there with their checksums, the archive members kept, and how the files are read.

use std::path::{Path, PathBuf};

use super::checksum::Checksum;
use crate::cifar;

/// Names accepted by [`download`](crate::download()) (and by [`crate::load`] once downloaded).
pub const DATASETS_REMOTE: [&str; 3] = ["mnist", "fashion-mnist", "cifar10"];

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
    /// Base URLs, tried in order; a file's URL is the base joined with its name. Plain
    /// `http://` ones are skipped unless the download allows http.
    pub mirrors: &'static [&'static str],
    pub files: &'static [RemoteFile],
    /// When not empty the files are `tar.gz` archives: these members are extracted into the
    /// dataset folder and the archives removed.
    pub extract: &'static [Member],
    pub format: Format,
}

pub(crate) const MNIST_FILES: [&str; 4] = [
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
        // Zalando's own repository carries the published files (same MD5s) over https, pinned
        // to a commit; their S3 website serves plain http only, used with --allow-http.
        mirrors: &[
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/b2617bb6d3ffa2e429640350f613e3291e10b141/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ],
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

/// The manifest's file name in the dataset folder (`sha256sum` format, one line per extracted
/// file).
pub const MANIFEST: &str = "SHA256SUMS";

pub(crate) fn base_name(path: &str) -> &str {
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
    /// the wrong size, or their manifest); `None` when everything is there. Checksums are not
    /// recomputed here.
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
                .or_else(|| Some(dir.join(MANIFEST)).filter(|p| !p.is_file()))
        }
    }
}
