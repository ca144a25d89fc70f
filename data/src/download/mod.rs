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
//!
//! - [`catalogue`]: the datasets, their mirrors, files, checksums and formats;
//! - [`checksum`]: published digests and checking them;
//! - [`transport`]: opening a URL ([`Fetch`], [`NetFetch`]);
//! - [`fetch`]: getting a dataset's files into place, mirror after mirror;
//! - [`tar`]: extracting the members an archive is downloaded for;
//! - [`load`]: reading a downloaded dataset, or saying how to get it.

pub mod catalogue;
pub mod checksum;
pub mod fetch;
pub mod load;
pub mod tar;
pub mod transport;

pub use catalogue::{remote, Format, Member, Remote, RemoteFile, DATASETS_REMOTE, REMOTE};
pub use checksum::Checksum;
pub use fetch::{download, download_with, url_of};
pub use load::{load_remote, load_spec, location};
pub use transport::{Fetch, FetchError, NetFetch, Response};

#[cfg(test)]
mod tests;
