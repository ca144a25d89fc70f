//! Published checksums and the digests that check them.

use std::io::Read;

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

pub(crate) enum Hasher {
    Md5(md5::Md5),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub(crate) fn new(c: &Checksum) -> Self {
        use sha2::Digest;
        match c {
            Checksum::Md5(_) => Hasher::Md5(md5::Md5::new()),
            Checksum::Sha256(_) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Md5(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }

    pub(crate) fn finish(self) -> String {
        use sha2::Digest;
        let bytes: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
