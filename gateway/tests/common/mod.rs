//! The gateway binary as a process, for the black-box suites (`admin.rs`, `faults.rs`,
//! `gateway.rs`): started with exactly the environment a test gives it, its standard output and
//! error kept in files of a directory of its own, killed and cleaned up on drop.
#![allow(dead_code)] // each suite uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A name no other test of this run uses.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The binary with an empty environment but for `vars`, its database and demo keys in `dir`
/// unless `vars` say otherwise.
pub fn command(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_store-notifications-gateway"));
    cmd.args(args)
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("gw.db").display()),
        )
        .env("DEMO_KEYS_DIR", dir.join("keys"))
        .envs(vars.iter().copied());
    cmd
}

/// A running gateway.
pub struct Process {
    child: Child,
    /// Its directory: `stdout`, `stderr`, and by default `gw.db` and `keys/`.
    pub dir: PathBuf,
    /// `http://127.0.0.1:<port>`, from its start-up line.
    pub base: String,
}

impl Process {
    /// Starts the binary and waits (up to 60 s) until it listens.
    pub fn start(name: &str, args: &[&str], vars: &[(&str, &str)]) -> Process {
        let dir = temp_dir(name);
        let child = command(&dir, args, vars)
            .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout"))
            .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr"))
            .spawn()
            .expect("spawn the gateway");
        let mut process = Process {
            child,
            dir,
            base: String::new(),
        };
        let line = process.wait_for("listening on ", Duration::from_secs(60));
        process.base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("a URL on the start-up line")
            .to_owned();
        process
    }

    /// Waits for a line of standard output containing `marker`; that line. Panics, with the
    /// process's standard error, if it exits or `limit` passes first.
    pub fn wait_for(&mut self, marker: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.stdout().lines().find(|l| l.contains(marker)) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the gateway exited ({status}) before {marker:?}: {}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} from the gateway within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    /// Its standard error (the logs) so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends it a signal (`TERM`, `INT`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits up to `limit` for it to exit.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL, now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
