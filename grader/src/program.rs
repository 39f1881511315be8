//! The programs `lab check` starts: the lab's own worker or load balancer, or the student's
//! command, which runs in the checker's scratch folder.

use std::path::Path;
use std::process::Command;

use harness::lab::Lab;

/// A program to start: one of the lab's own, or a command given by the user.
#[derive(Debug, Clone)]
pub enum Program {
    /// Our worker or load balancer, built beside this program.
    Ours(&'static str),
    /// The user's command, split at spaces; words naming files are already absolute paths.
    Command(Vec<String>),
}

impl Program {
    /// A user's command, split at spaces. It runs in a scratch folder, so each word that names
    /// a file here (`worker_server.py`) or a relative path (`target/release/worker`, which may
    /// be built only after this) is made absolute first; a bare name such as `load_balancer`
    /// is left for PATH, even where a folder of that name is here.
    pub fn from_command_line(line: &str) -> Option<Program> {
        let here = std::env::current_dir().ok();
        let words: Vec<String> = line
            .split_whitespace()
            .map(|word| match &here {
                Some(here) if names_a_path(word) => here.join(word).display().to_string(),
                _ => word.to_string(),
            })
            .collect();
        (!words.is_empty()).then_some(Program::Command(words))
    }

    /// How the report names it.
    pub fn describe(&self) -> String {
        match self {
            Program::Ours(name) => format!("ours ({name})"),
            Program::Command(words) => format!("`{}`", words.join(" ")),
        }
    }

    /// The command to start it with, in the lab's scratch folder.
    pub(super) fn command(&self, lab: &Lab) -> Result<Command, String> {
        let mut command = match self {
            Program::Ours(name) => lab.command(name).map_err(|e| e.to_string())?,
            Program::Command(words) => {
                let (program, args) = words.split_first().ok_or("an empty command")?;
                let mut command = Command::new(program);
                command.args(args).current_dir(lab.dir());
                command
            }
        };
        // Python buffers its printed lines when they go to a pipe; the evidence needs them now.
        command.env("PYTHONUNBUFFERED", "1");
        Ok(command)
    }
}

/// Whether a command's word names a path: a file that exists here, or a relative path.
fn names_a_path(word: &str) -> bool {
    let path = Path::new(word);
    let flag = word.starts_with('-'); // `--registry=data/x` is an option, not a path
    !flag && (path.is_file() || (path.is_relative() && word.contains('/')))
}
