//! The report in a real browser: headless Chromium renders the fixture report without console
//! errors, and its screenshot is a full page of content (not blank).
//!
//! Chromium is looked up as `$GRADLAB_CHROMIUM`, then `chromium`, `chromium-browser`,
//! `google-chrome` on PATH. Without it the tests print a message and pass, unless
//! `GRADLAB_REQUIRE_CHROMIUM=1` (CI), where they fail. `GRADLAB_SCREENSHOT=FILE.png` keeps a
//! copy of the report's screenshot (and the page as FILE.html).

mod common;
#[path = "common/find_chromium.rs"]
mod find_chromium;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{decode_png, fixture, options, OPTIMIZERS, PROBLEMS};

/// Chromium, or `None` after printing why the test is skipped (a failure when required).
fn require() -> Option<PathBuf> {
    match find_chromium::chromium() {
        Some(p) => Some(p),
        None => {
            if std::env::var("GRADLAB_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
                panic!("GRADLAB_REQUIRE_CHROMIUM=1 but no chromium found (install it: apt-get install -y chromium)");
            }
            eprintln!(
                "SKIPPED: chromium not found (set GRADLAB_REQUIRE_CHROMIUM=1 to fail instead)"
            );
            None
        }
    }
}

struct Rendered {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with `mode` (`--screenshot=...` or `--dump-dom`),
/// killing it after 90 s.
fn run(chrome: &Path, page: &Path, work: &Path, mode: &str) -> Rendered {
    let profile = tempfile::tempdir_in(work).unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let out_path = work.join(format!("out-{}.txt", std::process::id()));
    let err_path = work.join(format!("err-{}.txt", std::process::id()));
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,4000",
            mode,
            &url,
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Rendered {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Console messages Chromium logged (`...:INFO:CONSOLE:1] "Uncaught ReferenceError..."`).
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

#[test]
#[cfg_attr(
    no_chromium,
    ignore = "no Chromium here, so the report was not rendered in a browser: install it (apt-get install chromium) or set GRADLAB_CHROMIUM to its path, then run cargo test again"
)]
fn report_renders_without_errors_and_is_not_blank() {
    let Some(chrome) = require() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, runs) = fixture();
    let page = dir.path().join("report.html");
    report::write_html_with(&a, &runs, &page, &options(&a, &runs)).unwrap();

    // The detector works: a page with a deliberate script error is caught.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><p>x</p><script>undefined_function_for_test();</script></body></html>",
    )
    .unwrap();
    let r = run(
        &chrome,
        &bad,
        dir.path(),
        &format!("--screenshot={}", dir.path().join("bad.png").display()),
    );
    assert!(r.status.success());
    let msgs = console_messages(&r.stderr);
    assert!(
        msgs.iter()
            .any(|m| m.contains("undefined_function_for_test")),
        "the deliberate error was not detected; stderr:\n{}",
        r.stderr
    );

    // The report: exit 0, no console output at all, a full-size screenshot.
    let png = dir.path().join("report.png");
    let r = run(
        &chrome,
        &page,
        dir.path(),
        &format!("--screenshot={}", png.display()),
    );
    assert!(
        r.status.success(),
        "chromium failed: {:?}\n{}",
        r.status,
        r.stderr
    );
    let msgs = console_messages(&r.stderr);
    assert!(msgs.is_empty(), "console messages: {msgs:#?}");
    let bytes = std::fs::read(&png).expect("screenshot written");
    if let Some(keep) = std::env::var_os("GRADLAB_SCREENSHOT") {
        let keep = PathBuf::from(keep);
        std::fs::copy(&png, &keep).unwrap();
        std::fs::copy(&page, keep.with_extension("html")).unwrap();
    }
    let (w, h, px) = decode_png(&bytes).unwrap();
    assert_eq!((w, h), (1400, 4000));
    // Not blank: most of the page is non-background and it has many distinct colours
    // (optimizer lines, bands, heat maps).
    let bg = px[0];
    let differing = px.iter().filter(|p| **p != bg).count();
    assert!(
        differing as f64 > 0.25 * px.len() as f64,
        "only {differing} of {} pixels differ from the background",
        px.len()
    );
    let mut colours: Vec<[u8; 3]> = px.iter().step_by(7).copied().collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 500, "only {} colours", colours.len());
    // Every row band of the page has content (the layout did not leave a big empty gap).
    for band in 0..8 {
        let rows = &px[band * h / 8 * w..(band + 1) * h / 8 * w];
        let ink = rows
            .iter()
            .filter(|p| p[0] < 200 || p[1] < 200 || p[2] < 200)
            .count();
        assert!(
            ink > rows.len() / 100,
            "band {band} of the screenshot is nearly empty"
        );
    }
}

#[test]
#[cfg_attr(
    no_chromium,
    ignore = "no Chromium here, so the report was not rendered in a browser: install it (apt-get install chromium) or set GRADLAB_CHROMIUM to its path, then run cargo test again"
)]
fn dom_after_parsing_has_every_section() {
    let Some(chrome) = require() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, runs) = fixture();
    let page = dir.path().join("report.html");
    report::write_html_with(&a, &runs, &page, &options(&a, &runs)).unwrap();
    let r = run(&chrome, &page, dir.path(), "--dump-dom");
    assert!(r.status.success(), "{}", r.stderr);
    let dom = &r.stdout;
    // The browser's DOM holds what we wrote: all sections, all plots (as SVG elements).
    for id in [
        "header",
        "summary",
        "ranking",
        "profiles",
        "landscape",
        "findings",
        "failed",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "#{id} missing from the DOM"
        );
    }
    for p in PROBLEMS {
        assert!(dom.contains(&format!("id=\"problem-{p}\"")));
    }
    assert_eq!(dom.matches("<svg").count(), 16);
    assert_eq!(dom.matches("</svg>").count(), 16);
    let land = &dom[dom.find("id=\"landscape\"").unwrap()..];
    let land = &land[..land.find("</section>").unwrap()];
    for o in OPTIMIZERS {
        assert!(
            land.contains(&format!(">{o}</text>")),
            "{o} landscape legend"
        );
    }
    assert!(console_messages(&r.stderr).is_empty(), "{}", r.stderr);
}
