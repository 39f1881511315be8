//! Reading flags by hand, so a student sees all of it: the programs take a few `--flag VALUE`
//! pairs, and a crate for that would hide more than it saves.
//!
//! Each program writes a small `parse_args` that loops over [`Args`]; [`parse_or_exit`] runs
//! it and handles `--help` and mistakes the same way in all three programs, as talent-plan's
//! projects do: help on stdout with exit code 0, a mistake on stderr with exit code 2.

use std::fmt::Display;
use std::process::{self, ExitCode};
use std::str::FromStr;
use std::time::Duration;

use crate::armour::log;

/// The exit code for a mistake on the command line, as in most Unix tools.
pub const USAGE_EXIT_CODE: i32 = 2;

/// The most seconds a flag such as `--timeout` takes: one day. A wait longer than that is a
/// typo or `inf`, not a plan, and adding an endless duration to the clock would overflow it.
pub const MAX_SECONDS: u64 = 24 * 60 * 60;

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

    /// The value that must follow `flag`, parsed as a `T` (a path, a number, a choice).
    pub fn value<T>(&mut self, flag: &str) -> Result<T, CliError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self.text(flag)?;
        text.parse()
            .map_err(|e| CliError::Usage(format!("bad value {text:?} for {flag}: {e}")))
    }

    /// The text that must follow `flag`. The next flag is not a value: `--port --registry x`
    /// says `--port needs a value` instead of trying `--registry` as a port.
    fn text(&mut self, flag: &str) -> Result<String, CliError> {
        match self.rest.as_slice().first() {
            Some(next) if !next.starts_with("--") => Ok(self.rest.next().unwrap_or_default()),
            _ => Err(CliError::Usage(format!("{flag} needs a value"))),
        }
    }

    /// A TCP port that must follow `flag`, 0 to 65535, with the range in the message when it
    /// is not one (Rust's own says "number too large to fit in target type").
    pub fn port(&mut self, flag: &str) -> Result<u16, CliError> {
        let text = self.text(flag)?;
        text.parse().map_err(|_| {
            CliError::Usage(format!("{flag} takes a port from 0 to 65535, not {text:?}"))
        })
    }

    /// A whole number that must follow `flag`, such as `--max-n 100000`, from 0 to u64's
    /// largest; the message says so in our words rather than std's.
    pub fn whole_number(&mut self, flag: &str) -> Result<u64, CliError> {
        let text = self.text(flag)?;
        text.parse().map_err(|_| {
            CliError::Usage(format!(
                "{flag} takes a whole number from 0 to {}, not {text:?}",
                u64::MAX
            ))
        })
    }

    /// A count that must follow `flag`, such as `--max-connections 64`; it must be above 0.
    pub fn count(&mut self, flag: &str) -> Result<usize, CliError> {
        let count = usize::try_from(self.whole_number(flag)?).unwrap_or(usize::MAX);
        if count == 0 {
            return Err(CliError::Usage(format!("{flag} must be at least 1")));
        }
        Ok(count)
    }

    /// A number of seconds that must follow `flag`, such as `10` or `0.5`: above 0 and at
    /// most [`MAX_SECONDS`].
    pub fn seconds(&mut self, flag: &str) -> Result<Duration, CliError> {
        let seconds: f64 = self.value(flag)?;
        // NaN, inf and 1e300 parse as f64 too; the message gives the range instead of a panic.
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero() && d.as_secs_f64() <= MAX_SECONDS as f64)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{flag} takes a number of seconds above 0 and at most {MAX_SECONDS} \
                     (one day), not {seconds}"
                ))
            })
    }
}

/// The error for an argument the program does not know.
pub fn unknown(arg: &str) -> CliError {
    CliError::Usage(format!("unknown argument {arg:?}"))
}

/// What a server's `main` returns: a start-up error (the port is taken, the registry cannot be
/// written) is said on stderr after the lines already queued, and the exit code is 1; a
/// server that returns without one exits 0. Python prints a traceback instead.
pub fn exit_code(program: &str, started: Result<(), crate::armour::error::Error>) -> ExitCode {
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::flush();
            log::warn(&format!("{program}: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Runs `parse` over the process's arguments. On `--help` it prints `help` and exits 0; on a
/// mistake it prints the mistake and a hint on stderr and exits 2.
pub fn parse_or_exit<T>(
    program: &str,
    help: &str,
    parse: impl FnOnce(&mut Args) -> Result<T, CliError>,
) -> T {
    parse_these_or_exit(program, help, std::env::args().skip(1), parse)
}

/// [`parse_or_exit`] over the given arguments instead of the process's: for a subcommand
/// such as `lab check`, whose arguments start after its name.
pub fn parse_these_or_exit<T>(
    program: &str,
    help: &str,
    args: impl IntoIterator<Item = String>,
    parse: impl FnOnce(&mut Args) -> Result<T, CliError>,
) -> T {
    match parse(&mut Args::new(args)) {
        Ok(options) => options,
        Err(CliError::HelpRequested) => {
            // print! would panic on a closed standard output; the help is then simply lost.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), help.as_bytes());
            process::exit(0);
        }
        Err(CliError::Usage(message)) => {
            log::warn(&format!("{program}: {message}"));
            log::warn(&format!("Try '{program} --help' for the options."));
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
        assert_eq!(
            args(&["70000"]).port("--port"),
            Err(CliError::Usage(
                "--port takes a port from 0 to 65535, not \"70000\"".into()
            ))
        );
        assert_eq!(args(&["65535"]).port("--port"), Ok(65535));
        assert_eq!(
            args(&["--registry", "x"]).port("--port"),
            Err(CliError::Usage("--port needs a value".into()))
        );
        assert!(args(&["0"]).seconds("--timeout").is_err());
        assert!(args(&["-1"]).seconds("--timeout").is_err());
        for huge in ["inf", "NaN", "1e300", "86401"] {
            let Err(CliError::Usage(message)) = args(&[huge]).seconds("--timeout") else {
                panic!("{huge} seconds accepted");
            };
            assert!(message.contains("at most 86400 (one day)"), "{message}");
        }
        assert_eq!(
            args(&["86400"]).seconds("--timeout"),
            Ok(Duration::from_secs(86400))
        );
        assert!(args(&["0"]).count("--max-connections").is_err());
        assert_eq!(args(&["3"]).count("--max-connections"), Ok(3));
    }
}
