//! Opening URLs: the [`Fetch`] trait, and [`NetFetch`], the one implementation that touches the
//! network (HTTPS, and plain HTTP only when allowed, with the `http` feature, on by default;
//! `file://` URLs always).
//! Tests serve bytes from memory through the same trait.

use std::io::Read;

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

/// The real transfer: `https://` (with the `http` feature; rustls with the Mozilla roots, the
/// proxy from `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` for [`NetFetch::new`]), `http://` only when
/// [allowed](NetFetch::allowing_http) (otherwise refused, redirects to it too), and `file://`
/// paths.
pub struct NetFetch {
    #[cfg(feature = "http")]
    agent: ureq::Agent,
    proxy_from_env: bool,
    allow_http: bool,
}

impl Default for NetFetch {
    fn default() -> Self {
        Self::new()
    }
}

impl NetFetch {
    /// Connect timeout 30 s, and 60 s without a byte read; proxy from the environment; https
    /// only.
    pub fn new() -> Self {
        Self::build(true, false)
    }

    /// As [`NetFetch::new`] but never through a proxy.
    pub fn direct() -> Self {
        Self::build(false, false)
    }

    /// The same, also over plain `http://` (and following redirects to it).
    pub fn allowing_http(self) -> Self {
        Self::build(self.proxy_from_env, true)
    }

    fn build(proxy_from_env: bool, allow_http: bool) -> Self {
        NetFetch {
            #[cfg(feature = "http")]
            agent: ureq::AgentBuilder::new()
                .timeout_connect(std::time::Duration::from_secs(30))
                .timeout_read(std::time::Duration::from_secs(60))
                .user_agent(concat!("gradlab/", env!("CARGO_PKG_VERSION")))
                .try_proxy_from_env(proxy_from_env)
                .https_only(!allow_http)
                .build(),
            proxy_from_env,
            allow_http,
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
        if url.starts_with("http://") && !self.allow_http {
            return Err(FetchError::Network(
                "plain http refused (--allow-http uses it)".into(),
            ));
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
                "https://, http:// when allowed, file://"
            } else {
                "file:// — built without the `http` feature"
            }
        )))
    }
}
