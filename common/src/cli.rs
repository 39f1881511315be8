//! Reading flags by hand, so a student sees all of it: the programs take a few `--flag VALUE`
//! pairs, and a crate for that would hide more than it saves.
//!
//! Each program writes a small `parse_args` that loops over [`Args`]; [`parse_or_exit`] runs
//! it and handles `--help` and mistakes the same way in all three programs, as talent-plan's
//! projects do: help on stdout with exit code 0, a mistake on stderr with exit code 2.

use std::fmt::Display;
use std::process;
use std::str::FromStr;
use std::time::Duration;

/// The exit code for a mistake on the command line, as in most Unix tools.
pub const USAGE_EXIT_CODE: i32 = 2;

/// Why parsing stopped before the program could run.
#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    /// `--help` or `-h`: print the help text and exit successfully.
    HelpRequested,
    /// A mistake, described for the user.
    Usage(String),
}

/// The command-line arguments after the program name, handed out one at a time.
pub struct Args {
    rest: std::vec::IntoIter<String>,
}

impl Args {
    /// Wraps the given arguments (without the program name).
    pub fn new(args: impl IntoIterator<Item = String>) -> Args {
        Args {
            rest: args.into_iter().collect::<Vec<_>>().into_iter(),
        }
    }

    /// The next argument, or `None` at the end.
    pub fn next_arg(&mut self) -> Option<String> {
        self.rest.next()
    }

    /// The value that must follow `flag`, parsed as a `T` (a port, a path, a number).
    pub fn value<T>(&mut self, flag: &str) -> Result<T, CliError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self
            .rest
            .next()
            .ok_or_else(|| CliError::Usage(format!("{flag} needs a value")))?;
        text.parse()
            .map_err(|e| CliError::Usage(format!("bad value {text:?} for {flag}: {e}")))
    }

    /// A count that must follow `flag`, such as `--max-connections 64`; it must be above 0.
    pub fn count(&mut self, flag: &str) -> Result<usize, CliError> {
        let count: usize = self.value(flag)?;
        if count == 0 {
            return Err(CliError::Usage(format!("{flag} must be at least 1")));
        }
        Ok(count)
    }

    /// A number of seconds that must follow `flag`, such as `10` or `0.5`; it must be above 0.
    pub fn seconds(&mut self, flag: &str) -> Result<Duration, CliError> {
        let seconds: f64 = self.value(flag)?;
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{flag} takes a number of seconds above 0, not {seconds}"
                ))
            })
    }
}

/// The error for an argument the program does not know.
pub fn unknown(arg: &str) -> CliError {
    CliError::Usage(format!("unknown argument {arg:?}"))
}

/// Runs `parse` over the process's arguments. On `--help` it prints `help` and exits 0; on a
/// mistake it prints the mistake and a hint on stderr and exits 2.
pub fn parse_or_exit<T>(
    program: &str,
    help: &str,
    parse: impl FnOnce(&mut Args) -> Result<T, CliError>,
) -> T {
    match parse(&mut Args::new(std::env::args().skip(1))) {
        Ok(options) => options,
        Err(CliError::HelpRequested) => {
            print!("{help}");
            process::exit(0);
        }
        Err(CliError::Usage(message)) => {
            eprintln!("{program}: {message}");
            eprintln!("Try '{program} --help' for the options.");
            process::exit(USAGE_EXIT_CODE);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()))
    }

    /// A flag's value is parsed to the type asked for.
    #[test]
    fn parses_values() {
        let mut a = args(&["8080", "0.5"]);
        assert_eq!(a.value::<u16>("--port"), Ok(8080));
        assert_eq!(a.seconds("--timeout"), Ok(Duration::from_millis(500)));
        assert_eq!(a.next_arg(), None);
    }

    /// A missing or bad value is a usage error that names the flag.
    #[test]
    fn reports_bad_values() {
        assert_eq!(
            args(&[]).value::<u16>("--port"),
            Err(CliError::Usage("--port needs a value".into()))
        );
        let Err(CliError::Usage(message)) = args(&["70000"]).value::<u16>("--port") else {
            panic!("70000 is no port");
        };
        assert!(message.starts_with("bad value \"70000\" for --port"));
        assert!(args(&["0"]).seconds("--timeout").is_err());
        assert!(args(&["-1"]).seconds("--timeout").is_err());
        assert!(args(&["0"]).count("--max-connections").is_err());
        assert_eq!(args(&["3"]).count("--max-connections"), Ok(3));
    }
}
