//! A PostgreSQL store's connection settings: read from its URL by the driver's own parser
//! (`postgres::Config`), and shown only as that parser read them — user, hosts, ports, database
//! and sslmode, never the password — in the banner and in every message, whatever characters
//! the password holds. A URL the driver cannot parse is not shown at all, and neither is any
//! character of it in the driver's complaint.
//!
//! gradlab reads two libpq parameters the driver lacks, `sslmode=verify-ca|verify-full` and
//! `sslrootcert=PATH` (what they do: `tls`), by taking them out of the URL's query before the
//! driver reads it. The query is found by the driver's own rule — the user name and password
//! end at the first `@`, the query starts at the first `?` after it, its parameters are
//! `key=value` pairs, a key ending at the next `=`, a value at the next `&` — so no part of a
//! password is ever taken for a parameter. By the same rule an `@` inside a user name or password
//! ends it early, so a URL with a second `@` is refused (write it `%40`): the driver would read
//! the rest of the password as the host name, and show it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use postgres::config::{Config, Host};

/// What a URL that cannot be parsed is shown as.
pub(crate) const NOT_SHOWN: &str = "postgres://(URL not shown: it could not be parsed)";

/// The settings of a PostgreSQL store.
pub(crate) struct Settings {
    /// For the driver: gradlab's own parameters taken out, `verify-*` connecting as `require`.
    pub config: Config,
    pub sslmode: SslMode,
    /// `sslrootcert`: the PEM file of the CAs that may sign the server's certificate.
    pub root_cert: Option<PathBuf>,
    /// The store as shown: `postgres://user@host:port/db?sslmode=MODE`, no password.
    pub shown: String,
}

/// libpq's `sslmode`s (what each does: `tls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode the driver connects with: the verifying ones check in the TLS connector.
    fn for_driver(self) -> &'static str {
        match self {
            SslMode::VerifyCa | SslMode::VerifyFull => "require",
            other => other.as_str(),
        }
    }
}

/// Reads `url` (`postgres://` or `postgresql://`, or the driver's `key=value` form, which takes
/// no `verify-*` mode nor `sslrootcert`). The error never holds any part of the password.
pub(crate) fn parse(url: &str) -> Result<Settings, String> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Taken {
        text,
        sslmode,
        root_cert,
    } = if is_url {
        gradlab_parameters(url)?
    } else {
        Taken {
            text: Cow::Borrowed(url),
            sslmode: None,
            root_cert: None,
        }
    };
    let config: Config = text.parse().map_err(|e: postgres::Error| {
        let mut m = super::msg(&e);
        // The key=value parser quotes the character it stumbled on, which may be the password's.
        if let Some(at) = m.find(" but got") {
            m.truncate(at);
        }
        // An unknown option's name is a piece of the password when a `password=` value held a
        // space (key=value form) or an `&` (URL query) unescaped.
        if let (Some(at), true) = (m.find("unknown option `"), text.contains("password=")) {
            m.truncate(at);
            m.push_str("unknown option (its name is not shown: it may be part of the password)");
        }
        format!("invalid PostgreSQL URL: {m}")
    })?;
    let sslmode = sslmode.unwrap_or(match config.get_ssl_mode() {
        postgres::config::SslMode::Disable => SslMode::Disable,
        postgres::config::SslMode::Require => SslMode::Require,
        _ => SslMode::Prefer,
    });
    Ok(Settings {
        shown: show(&config, sslmode),
        config,
        sslmode,
        root_cert,
    })
}

/// A URL with gradlab's own parameters taken out, and what they were.
struct Taken<'a> {
    /// The URL without `sslrootcert`, a `verify-*` sslmode turned into `require`.
    text: Cow<'a, str>,
    sslmode: Option<SslMode>,
    root_cert: Option<PathBuf>,
}

/// Takes gradlab's own parameters out of `url` (see the module documentation for how the query
/// is found).
fn gradlab_parameters(url: &str) -> Result<Taken<'_>, String> {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let user_end = url.find('@').map_or(scheme_end, |i| i + 1);
    if url[user_end..].contains('@') {
        return Err(
            "invalid PostgreSQL URL: it holds more than one '@' (write an '@' in the user \
                    name or password as %40)"
                .into(),
        );
    }
    let Some(q) = url[user_end..].find('?').map(|i| user_end + i) else {
        return Ok(Taken {
            text: Cow::Borrowed(url),
            sslmode: None,
            root_cert: None,
        });
    };
    let mut rest = &url[q + 1..];
    let mut query = String::new();
    let (mut sslmode, mut root_cert) = (None, None);
    while !rest.is_empty() {
        // An unterminated parameter is left for the driver to report.
        let Some(eq) = rest.find('=') else {
            push_param(&mut query, rest);
            break;
        };
        let (key, after) = (&rest[..eq], &rest[eq + 1..]);
        let end = after.find('&').unwrap_or(after.len());
        let value = &after[..end];
        rest = after.get(end + 1..).unwrap_or("");
        match decode(key).as_ref() {
            "sslrootcert" => root_cert = Some(PathBuf::from(decode(value).as_ref())),
            "sslmode" => {
                let v = decode(value);
                let mode = SslMode::ALL
                    .into_iter()
                    .find(|m| m.as_str() == v)
                    .ok_or_else(|| {
                        format!(
                            "invalid PostgreSQL URL: sslmode={v}: expected disable, prefer, \
                             require, verify-ca or verify-full"
                        )
                    })?;
                push_param(&mut query, &format!("sslmode={}", mode.for_driver()));
                sslmode = Some(mode);
            }
            _ => push_param(&mut query, &format!("{key}={value}")),
        }
    }
    let head = &url[..q];
    let text = if query.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{query}")
    };
    Ok(Taken {
        text: Cow::Owned(text),
        sslmode,
        root_cert,
    })
}

fn push_param(query: &mut String, param: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(param);
}

fn decode(s: &str) -> Cow<'_, str> {
    percent_decode_str(s).decode_utf8_lossy()
}

/// Characters written `%XX` in a shown user name, database or socket folder.
const SHOWN: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'@')
    .add(b':')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'=')
    .add(b',')
    .add(b'[')
    .add(b']');

/// `postgres://user@host:port,host2:port2/db?sslmode=MODE`, from the parsed settings only.
fn show(config: &Config, sslmode: SslMode) -> String {
    let mut s = String::from("postgres://");
    if let Some(user) = config.get_user() {
        let _ = write!(s, "{}@", utf8_percent_encode(user, SHOWN));
    }
    let ports = config.get_ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let hosts: Vec<String> = if config.get_hosts().is_empty() {
        config
            .get_hostaddrs()
            .iter()
            .map(|a| match a {
                std::net::IpAddr::V6(a) => format!("[{a}]"),
                a => a.to_string(),
            })
            .collect()
    } else {
        config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(h) if h.contains(':') => format!("[{h}]"),
                Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                Host::Unix(p) => utf8_percent_encode(&p.to_string_lossy(), SHOWN).to_string(),
            })
            .collect()
    };
    let hosts: Vec<String> = hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| format!("{h}:{}", port(i)))
        .collect();
    s.push_str(&hosts.join(","));
    s.push('/');
    if let Some(db) = config.get_dbname() {
        s.push_str(&utf8_percent_encode(db, SHOWN).to_string());
    }
    let _ = write!(s, "?sslmode={}", sslmode.as_str());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passwords holding the characters that URL splitters disagree on: the driver reads them
    /// all as the password (an `@` written `%40`), and nothing of them is shown.
    #[test]
    fn passwords_with_url_characters_are_read_whole_and_never_shown() {
        for (written, password) in [
            ("pa/ss", "pa/ss"),
            ("pa?ss", "pa?ss"),
            ("pa%40ss", "pa@ss"),
            ("pa:ss", "pa:ss"),
            ("pa%2Fss", "pa/ss"),
            ("a/b?c:d%40e%2Ff", "a/b?c:d@e/f"),
        ] {
            let url = format!("postgres://gradlab:{written}@db.example:5433/lab?sslmode=require");
            let s = parse(&url).unwrap();
            assert_eq!(s.config.get_password(), Some(password.as_bytes()), "{url}");
            assert_eq!(
                s.shown, "postgres://gradlab@db.example:5433/lab?sslmode=require",
                "{url}"
            );
            assert_eq!(s.sslmode, SslMode::Require);
        }
    }

    /// A raw `@` in a password would make the driver read the rest of it as the host.
    #[test]
    fn a_second_at_sign_is_refused_without_showing_the_url() {
        let e = parse("postgres://u:se@cret@db/lab").err().unwrap();
        assert!(e.contains("%40"), "{e}");
        assert!(!e.contains("cret"), "{e}");
    }

    #[test]
    fn unparsable_urls_are_not_echoed() {
        for url in [
            "postgres://u:pa/ss?w@db:notaport/lab",
            "postgres://u:pa/ss?w@db/lab?nonsense",
            "host=db password=se cret",
            "host=db password='secret",
            "host=db password=se cret=x",
            "postgres://db/lab?password=se&cret=x",
        ] {
            let e = parse(url).err().unwrap();
            assert!(e.starts_with("invalid PostgreSQL URL"), "{e}");
            for part in ["pa/ss", "ss?w", "cret", "secret"] {
                assert!(!e.contains(part), "{url}: {e}");
            }
        }
    }

    #[test]
    fn gradlab_parameters_are_taken_out_of_the_query() {
        let s = parse(
            "postgresql://u:p%3Fsslrootcert=x@db/lab?connect_timeout=5&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca.pem&application_name=g",
        )
        .unwrap();
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(s.config.get_password(), Some(&b"p?sslrootcert=x"[..]));
        assert_eq!(s.config.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(s.config.get_application_name(), Some("g"));
        assert_eq!(s.shown, "postgres://u@db:5432/lab?sslmode=verify-full");
        let e = parse("postgres://u@db/lab?sslmode=verify").err().unwrap();
        assert!(e.contains("sslmode=verify: expected disable"), "{e}");
        // The default, and the key=value form.
        assert_eq!(
            parse("postgres://db").unwrap().shown,
            "postgres://db:5432/?sslmode=prefer"
        );
        let s =
            parse("host=/run/pg port=6000 user=me dbname=x sslmode=disable password=p").unwrap();
        assert_eq!(s.shown, "postgres://me@%2Frun%2Fpg:6000/x?sslmode=disable");
    }
}
