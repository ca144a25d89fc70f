//! Downloading the full MNIST, Fashion-MNIST and CIFAR-10 from their usual mirrors, and loading
//! them by name once they are there.
//!
//! | name | files in `<root>/<name>/` | train | test | example shape |
//! |---|---|---|---|---|
//! | `mnist` | `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` | 60,000 | 10,000 | `[1, 28, 28]` |
//! | `fashion-mnist` | the same names | 60,000 | 10,000 | `[1, 28, 28]` |
//! | `cifar10` | `data_batch_{1..5}.bin`, `test_batch.bin`, `SHA256SUMS` | 50,000 | 10,000 | `[3, 32, 32]` |
//!
//! The root is [`crate::root::download_root`] unless one is given: `$GRADLAB_DATA`, else the
//! user's data folder (`$XDG_DATA_HOME/gradlab`, `~/.local/share/gradlab`), never the source
//! tree. Pixels are scaled to [0, 1]; all have 10 classes.
//!
//! [`download`] tries the mirrors in order, over https only unless plain http is explicitly
//! allowed ([`Options::allow_http`], `gradlab data download --allow-http`); streams each file into
//! a temporary file beside its destination (with a progress bar when asked), checks its MD5
//! against the published value and only then renames it into place durably, so an interrupted or
//! corrupt transfer never leaves a file under the final name. Files already present with the
//! right checksum are not fetched again. CIFAR-10 comes as one `tar.gz`; its six batch files are
//! extracted (each checked for its exact size, hashed with SHA-256 into the manifest
//! `SHA256SUMS`, written durably) and the archive is then removed.
//!
//! Loading checks every file again: the IDX files against their published MD5, CIFAR's batches
//! against the manifest's size and SHA-256, so a file damaged since is an error that says how to
//! get it again, never silently different data.
//!
//! The transfer sits behind the [`Fetch`] trait: [`NetFetch`] is the network (HTTPS, and HTTP
//! when allowed, with the `http` feature, on by default, and `file://` URLs always); tests serve
//! bytes from memory. Nothing else in the crate touches the network.
//!
//! - [`catalogue`]: the datasets, their mirrors, files, checksums and formats;
//! - [`checksum`]: published digests and checking them;
//! - [`transport`]: opening a URL ([`Fetch`], [`NetFetch`]);
//! - [`fetch`]: getting a dataset's files into place, mirror after mirror;
//! - [`tar`]: extracting the members an archive is downloaded for;
//! - [`manifest`]: the SHA-256 of each extracted member, recorded and checked;
//! - [`load`]: reading a downloaded dataset, or saying how to get it.

pub mod catalogue;
pub mod checksum;
pub mod fetch;
pub mod load;
pub mod manifest;
pub mod tar;
pub mod transport;

pub use catalogue::MANIFEST;
pub use catalogue::{remote, Format, Member, Remote, RemoteFile, DATASETS_REMOTE, REMOTE};
pub use checksum::Checksum;
pub use fetch::{download, download_opts, download_with, url_of, Options};
pub use load::{load_remote, load_spec, location};
pub use manifest::Manifest;
pub use transport::{Fetch, FetchError, NetFetch, Response};

#[cfg(test)]
mod tests;
