//! `samgate` as a child process: its standard error read as it comes, so
//! a test waits for what the process says (polled, with a time limit)
//! instead of sleeping for a guessed time, and SIGTERM to end it.

use std::io::Read;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a test waits for a line the process should write.
pub const LOG_WAIT: Duration = Duration::from_secs(60);

/// A process's standard error, read as it comes.
pub struct Stderr {
    text: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Stderr {
    /// Takes `child`'s piped standard error and reads it on a thread.
    pub fn follow(child: &mut Child) -> Self {
        let mut pipe = child.stderr.take().expect("stderr piped");
        let text: Arc<Mutex<Vec<u8>>> = Arc::default();
        let into = text.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Stderr { text, reader }
    }

    /// How many times `what` has been written so far.
    pub fn count(&self, what: &str) -> usize {
        String::from_utf8_lossy(&self.text.lock().unwrap())
            .matches(what)
            .count()
    }

    /// Waits until `what` has been written `times` times; fails the test
    /// if the process ends first or after [`LOG_WAIT`].
    pub async fn wait_for(&self, what: &str, times: usize, child: &mut Child) {
        let started = Instant::now();
        while self.count(what) < times {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "samgate stopped ({status}) before {what:?}: {}",
                    self.tail()
                );
            }
            assert!(
                started.elapsed() < LOG_WAIT,
                "no {what:?} in the log: {}",
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last few thousand bytes written, for a failure's message.
    pub fn tail(&self) -> String {
        let text = self.text.lock().unwrap();
        String::from_utf8_lossy(&text[text.len().saturating_sub(4000)..]).into_owned()
    }

    /// Everything written, once the process has ended.
    pub fn finish(self) -> String {
        self.reader.join().unwrap();
        String::from_utf8(Arc::try_unwrap(self.text).unwrap().into_inner().unwrap()).unwrap()
    }
}

/// Runs `samgate --data-dir <data> <args>` to its end, without RabbitMQ;
/// returns what it wrote to stdout, failing the test (with its stderr)
/// unless it succeeded.
pub fn run(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_samgate"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("SAMGATE_AMQP_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `samgate demo` into the data directory `data`, without RabbitMQ (its
/// deliveries wait in the outbox); fails the test if the demo fails.
pub fn demo(data: &std::path::Path) {
    run(data, &["demo"]);
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Ends `child` with SIGTERM and returns everything it wrote, once it has
/// exited; fails the test unless it exits successfully within [`LOG_WAIT`].
pub async fn stop(mut child: Child, stderr: Stderr) -> String {
    terminate(&child);
    let status = exit_status(&mut child, LOG_WAIT).await;
    let log = stderr.finish();
    assert!(status.success(), "samgate exited with {status}: {log}");
    log
}

/// Waits for `child` to exit, polling; kills it and fails the test if it
/// is still running after `limit`.
pub async fn exit_status(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("samgate was still running after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed when dropped before it ended, so that a test
/// that fails leaves no gateway running behind it (one would go on
/// consuming and declaring the test's queues).
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
