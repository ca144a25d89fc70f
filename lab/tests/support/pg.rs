//! The private PostgreSQL server of the lab's tests:
//! initdb into a temporary folder, `pg_ctl start` on a free loopback port (stopped at exit, and
//! by a watchdog if the test process is killed), password authentication, and TLS offered
//! (`ssl=on`) with a certificate for `localhost` and 127.0.0.1 signed by a CA made at start
//! ([`PgServer::ca_file`]); clients that do not ask for TLS connect in plain text.
//!
//! Without PostgreSQL binaries [`pg_server`] prints that the PostgreSQL tests are SKIPPED and
//! returns `None`, unless `GRADLAB_REQUIRE_POSTGRES=1`, which makes it fail. The binaries are
//! looked up in `GRADLAB_PG_BIN`, on PATH, then in /usr/lib/postgresql/*/bin; as root, the
//! server runs as user `postgres` (or `nobody`) through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

pub const PG_PASSWORD: &str = "gradlab-test-pw";

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Whom to run the server binaries as (they refuse to run as root).
    run_as: Option<String>,
    pub port: u16,
}

static SERVER: Mutex<Option<Arc<PgServer>>> = Mutex::new(None);
static SKIPPED: Mutex<bool> = Mutex::new(false);

extern "C" {
    fn atexit(f: extern "C" fn()) -> i32;
}

extern "C" fn stop_server_at_exit() {
    let server = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(server);
}

/// The shared private server (started on first use, stopped at exit), or `None` when no
/// PostgreSQL is installed (an error with `GRADLAB_REQUIRE_POSTGRES=1`).
pub fn pg_server() -> Option<Arc<PgServer>> {
    let mut guard = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = guard.as_ref() {
        return Some(Arc::clone(s));
    }
    let Some(bin) = super::find_pg::find_pg_bin() else {
        if std::env::var("GRADLAB_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("GRADLAB_REQUIRE_POSTGRES=1 but no PostgreSQL binaries (initdb, pg_ctl)");
        }
        let mut skipped = SKIPPED.lock().unwrap();
        if !*skipped {
            // Straight to stderr: libtest hides eprintln! output of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the PostgreSQL tests (no initdb/pg_ctl in GRADLAB_PG_BIN, on PATH or in \
                 /usr/lib/postgresql/*/bin; GRADLAB_REQUIRE_POSTGRES=1 makes this an error)"
            );
            *skipped = true;
        }
        return None;
    };
    let server = Arc::new(PgServer::start(bin));
    *guard = Some(Arc::clone(&server));
    unsafe {
        atexit(stop_server_at_exit);
    }
    Some(server)
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output();
    matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgServer {
    fn start(bin: PathBuf) -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("gradlab-pg")
            .tempdir()
            .unwrap();
        let run_as = is_root().then(|| {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| {
                    Command::new("id")
                        .arg(u)
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
                .expect("running as root and neither user postgres nor nobody exists");
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown {user} {}", dir.path().display());
            user.to_string()
        });
        let mut server = PgServer {
            dir,
            bin,
            run_as,
            port: 0,
        };
        let pwfile = server.dir.path().join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).unwrap();
        if let Some(user) = &server.run_as {
            Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&pwfile)
                .status()
                .unwrap();
        }
        let data = server.dir.path().join("data");
        let out = server
            .cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "-N"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", show(&out));
        let tls = server.make_certificates(&data);
        // A free port can be taken between probing and starting: retry a few times.
        for attempt in 0..5 {
            server.port = free_port();
            let log = server.dir.path().join("log");
            let out = server
                .cmd("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "30", "-o"])
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c full_page_writes=off -c max_connections=100 {tls}",
                    server.port,
                    server.dir.path().display()
                ))
                .arg("start")
                .output()
                .unwrap();
            if out.status.success() {
                server.watchdog(&data);
                return server;
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(attempt < 4, "pg_ctl start failed: {}\n{log}", show(&out));
        }
        unreachable!()
    }

    /// A detached shell that stops the server and deletes its folder once this process is gone,
    /// also when it is killed (at a normal exit the atexit handler has already done so).
    fn watchdog(&self, data: &Path) {
        let pg_ctl = self.bin.join("pg_ctl");
        let as_user = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- "),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {as_user}'{pg_ctl}' -D '{data}' -m immediate -w stop; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = data.display(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn cmd(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it: the key and
    /// certificate go into the data folder (readable by the server's user alone, as PostgreSQL
    /// demands), the CA into [`PgServer::ca_file`]. Returns the server options that turn TLS on.
    fn make_certificates(&self, data: &Path) -> String {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "gradlab test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(self.ca_file(), ca.pem()).unwrap();
        let (crt, pem) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&pem, key.serialize_pem()).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        if let Some(user) = &self.run_as {
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .args([&crt, &pem])
                .status()
                .unwrap();
            assert!(ok.success(), "chown {user} {}", pem.display());
        }
        format!(
            "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            crt.display(),
            pem.display()
        )
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{PG_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Creates database `db` (dropping an old one) and returns its URL.
    pub fn create_db(&self, db: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        self.url(db)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn show(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
