//! Running local programs for probes: one timeout and kill path for all.
//!
//! Every probe that runs a program (apt, restic, systemctl, tmutil, ...) goes
//! through [`CommandRunner`], so tests can feed captured output through the
//! same code path, and real runs share one policy: stdin closed, a timeout
//! after which the child is killed, and low CPU/IO priority for heavy probes
//! (`nice`/`ionice` on Linux, `nice` on macOS, below-normal priority class on
//! Windows). The program and its arguments always come from the agent's own
//! code and local config, never from the collector.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// Extra environment variables (e.g. `LC_ALL=C` for parseable output).
    pub env: Vec<(OsString, OsString)>,
    pub timeout: Duration,
    /// Run at low CPU and IO priority.
    pub low_priority: bool,
}

impl CommandSpec {
    pub fn new(
        program: impl Into<OsString>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: vec![("LC_ALL".into(), "C".into())],
            timeout: Duration::from_secs(60),
            low_priority: false,
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn low_priority(mut self) -> Self {
        self.low_priority = true;
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The program's name for messages.
    pub fn display_name(&self) -> String {
        Path::new(&self.program).display().to_string()
    }
}

/// What a finished program produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandOutput {
    /// Exit code; `None` if killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{program} is not installed")]
    NotFound { program: String },
    #[error("{program} did not finish within {} s and was killed", timeout.as_secs())]
    Timeout { program: String, timeout: Duration },
    #[error("cannot run {program}: {source}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

#[async_trait]
pub trait CommandRunner: Send + Sync + std::fmt::Debug {
    /// Runs the program to completion or until its timeout.
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError>;
}

/// Runs real programs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemCommandRunner;

#[async_trait]
impl CommandRunner for SystemCommandRunner {
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
        let program = spec.display_name();
        let mut command = build_command(spec);
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in &spec.env {
            command.env(key, value);
        }
        let child = command.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CommandError::NotFound {
                program: program.clone(),
            },
            _ => CommandError::Io {
                program: program.clone(),
                source,
            },
        })?;
        // Dropping the future on timeout drops the child, which kills it.
        match tokio::time::timeout(spec.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => Ok(CommandOutput {
                exit_code: output.status.code(),
                stdout: output.stdout,
                stderr: output.stderr,
            }),
            Ok(Err(source)) => Err(CommandError::Io { program, source }),
            Err(_) => Err(CommandError::Timeout {
                program,
                timeout: spec.timeout,
            }),
        }
    }
}

#[cfg(target_os = "linux")]
fn build_command(spec: &CommandSpec) -> tokio::process::Command {
    if !spec.low_priority {
        let mut command = tokio::process::Command::new(&spec.program);
        command.args(&spec.args);
        return command;
    }
    // nice is in coreutils everywhere; ionice (util-linux) is used when present.
    let mut command = tokio::process::Command::new("nice");
    command.args(["-n", "10"]);
    if Path::new("/usr/bin/ionice").exists() {
        command.args(["/usr/bin/ionice", "-c", "3"]);
    }
    command.arg(&spec.program).args(&spec.args);
    command
}

#[cfg(target_os = "macos")]
fn build_command(spec: &CommandSpec) -> tokio::process::Command {
    let mut command = if spec.low_priority {
        let mut nice = tokio::process::Command::new("/usr/bin/nice");
        nice.args(["-n", "10"]).arg(&spec.program);
        nice
    } else {
        tokio::process::Command::new(&spec.program)
    };
    command.args(&spec.args);
    command
}

#[cfg(windows)]
fn build_command(spec: &CommandSpec) -> tokio::process::Command {
    /// BELOW_NORMAL_PRIORITY_CLASS | CREATE_NO_WINDOW
    const LOW_PRIORITY_NO_WINDOW: u32 = 0x0000_4000 | 0x0800_0000;
    const NO_WINDOW: u32 = 0x0800_0000;
    let mut command = tokio::process::Command::new(&spec.program);
    command.args(&spec.args);
    command.creation_flags(if spec.low_priority {
        LOW_PRIORITY_NO_WINDOW
    } else {
        NO_WINDOW
    });
    command
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn build_command(spec: &CommandSpec) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&spec.program);
    command.args(&spec.args);
    command
}

/// A runner that answers from captured outputs, for parser and probe tests.
#[cfg(test)]
pub mod scripted {
    use std::sync::Mutex;

    use super::*;

    /// A command line (program then arguments) and its canned result; `Err` means "not installed".
    type ScriptedAnswer = (Vec<String>, Result<CommandOutput, String>);

    /// Answers each program (matched by program name and arguments) with a canned result.
    #[derive(Debug, Default)]
    pub struct ScriptedCommandRunner {
        answers: Mutex<Vec<ScriptedAnswer>>,
        pub calls: Mutex<Vec<Vec<String>>>,
    }

    impl ScriptedCommandRunner {
        /// Answers `command_line` (program then args) with `stdout` and exit code.
        pub fn answer(&self, command_line: &[&str], exit_code: i32, stdout: &str, stderr: &str) {
            self.push(
                command_line,
                Ok(CommandOutput {
                    exit_code: Some(exit_code),
                    stdout: stdout.as_bytes().to_vec(),
                    stderr: stderr.as_bytes().to_vec(),
                }),
            );
        }

        /// Answers `command_line` with "not installed".
        pub fn missing(&self, command_line: &[&str]) {
            self.push(command_line, Err("missing".into()));
        }

        fn push(&self, command_line: &[&str], answer: Result<CommandOutput, String>) {
            let key = command_line.iter().map(|s| (*s).to_owned()).collect();
            self.answers.lock().expect("lock").push((key, answer));
        }
    }

    #[async_trait]
    impl CommandRunner for ScriptedCommandRunner {
        async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
            let line: Vec<String> = std::iter::once(&spec.program)
                .chain(&spec.args)
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            self.calls.lock().expect("lock").push(line.clone());
            let answers = self.answers.lock().expect("lock");
            match answers.iter().find(|(key, _)| *key == line) {
                Some((_, Ok(output))) => Ok(output.clone()),
                Some((_, Err(_))) | None => Err(CommandError::NotFound {
                    program: spec.display_name(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn real_program_output_and_exit_code_are_captured() {
        let output = SystemCommandRunner
            .run(&CommandSpec::new(
                "sh",
                ["-c", "echo out; echo err >&2; exit 3"],
            ))
            .await
            .unwrap();
        assert_eq!(output.exit_code, Some(3));
        assert_eq!(output.stdout_text(), "out\n");
        assert_eq!(output.stderr_text(), "err\n");
    }

    #[tokio::test]
    async fn missing_program_is_reported_as_not_installed() {
        let err = SystemCommandRunner
            .run(&CommandSpec::new(
                "forewarn-no-such-tool",
                Vec::<String>::new(),
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::NotFound { .. }), "{err}");
    }

    #[tokio::test]
    async fn slow_program_is_killed_at_its_timeout() {
        let started = std::time::Instant::now();
        let err = SystemCommandRunner
            .run(&CommandSpec::new("sleep", ["30"]).timeout(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn scripted_runner_answers_known_lines_and_records_calls() {
        let runner = scripted::ScriptedCommandRunner::default();
        runner.answer(&["apt-get", "-s", "upgrade"], 0, "Inst x", "");
        runner.missing(&["dnf", "check-update"]);
        let output = runner
            .run(&CommandSpec::new("apt-get", ["-s", "upgrade"]))
            .await
            .unwrap();
        assert_eq!(output.stdout_text(), "Inst x");
        let missing = runner
            .run(&CommandSpec::new("dnf", ["check-update"]))
            .await
            .unwrap_err();
        assert!(matches!(missing, CommandError::NotFound { .. }));
        assert_eq!(runner.calls.lock().unwrap().len(), 2);
    }

    /// The niceness `sh -c nice` prints when run through the runner.
    async fn niceness(spec: CommandSpec) -> i32 {
        let output = SystemCommandRunner.run(&spec).await.unwrap();
        assert!(output.success());
        output.stdout_text().trim().parse().unwrap()
    }

    #[tokio::test]
    async fn low_priority_program_still_runs_ten_steps_nicer() {
        // Relative to the test's own niceness, so a test run under `nice` still checks it.
        let normal = niceness(CommandSpec::new("sh", ["-c", "nice"])).await;
        let low = niceness(CommandSpec::new("sh", ["-c", "nice"]).low_priority()).await;
        assert_eq!(low, (normal + 10).min(19));
    }
}
