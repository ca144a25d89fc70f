//! Worker processes for the tests about processes that share a store or die holding a claim:
//! the test binary runs one of its own ignored tests as a child (`--exact --ignored`), which
//! claims a run, prints `CLAIMED <key>` and waits for the parent's word on its stdin — `finish`
//! to complete its run and exit — or for the parent to SIGKILL it.

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct ChildWorker {
    child: Child,
    stdin: ChildStdin,
    _stdout: Lines<BufReader<ChildStdout>>,
}

/// Starts the ignored test `test` of this test binary with `env`, and waits until it has
/// claimed a run. Returns it and the key of its run.
pub fn spawn(test: &str, env: &[(&str, &str)]) -> (ChildWorker, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // libtest may print "test NAME ... " before it on the same line.
        if let Some(at) = line.find("CLAIMED ") {
            let key = line[at + 8..].trim().to_string();
            let worker = ChildWorker {
                child,
                stdin,
                _stdout: lines,
            };
            return (worker, key);
        }
    }
    let _ = child.kill();
    panic!(
        "the child process exited without claiming: {:?}",
        child.wait()
    );
}

impl ChildWorker {
    /// SIGKILL, as the out-of-memory killer or `kill -9` would; returns once it is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Tells it to complete its run, and waits for it to exit successfully.
    pub fn finish(mut self) {
        writeln!(self.stdin, "finish").unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child process failed: {status}");
    }
}

/// The child's half: tells the parent which run it claimed.
pub fn claimed(key: &str) {
    println!("\nCLAIMED {key}");
    std::io::stdout().flush().unwrap();
}

/// The child's half: waits for the parent's word; panics if the parent closes its stdin
/// without saying `finish` (it should have been killed instead).
pub fn wait_for_finish() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "finish", "the parent did not say finish");
}
