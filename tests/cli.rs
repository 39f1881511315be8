//! The three programs' command lines: help on stdout with exit code 0, and every mistake
//! refused on stderr with exit code 2 before anything starts.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::{Command, Output};

use harness::process::program_path;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program_path(program).unwrap())
        .args(args)
        .output()
        .unwrap()
}

/// Every flag each program takes, as its help must name it.
const FLAGS: &[(&str, &[&str])] = &[
    (
        "worker",
        &[
            "--host",
            "--advertise",
            "--print-registry-line",
            "--port",
            "--registry",
            "--fresh-registry",
            "--max-n",
            "--timeout",
            "--max-connections",
            "--threads",
            "--help",
        ],
    ),
    (
        "load_balancer",
        &[
            "--host",
            "--port",
            "--registry",
            "--strategy",
            "--timeout",
            "--connect-timeout",
            "--worker-timeout",
            "--cooldown",
            "--max-connections",
            "--threads",
            "--print-haproxy-config",
            "--print-nginx-config",
            "--help",
        ],
    ),
    (
        "client",
        &["--host", "--port", "--timeout", "NUMBER", "--help"],
    ),
];

/// `--help` and `-h` print the usage on stdout and exit 0, naming every flag the program
/// takes.
#[test]
fn help_prints_usage_and_every_flag() {
    for (program, flags) in FLAGS {
        for flag in ["--help", "-h"] {
            let output = run(program, &[flag]);
            assert_eq!(output.status.code(), Some(0), "{program} {flag}");
            let help = String::from_utf8_lossy(&output.stdout);
            assert!(help.starts_with(&format!("{program}: ")), "{help}");
            assert!(
                help.contains(&format!("Usage: {program} [--host H] [--port P]")),
                "{help}"
            );
            for name in *flags {
                assert!(help.contains(name), "{name} is missing from:\n{help}");
            }
        }
    }
}

/// Unknown flags, missing values and bad values are refused with exit code 2, a message that
/// names the problem, and a hint.
#[test]
fn mistakes_exit_with_code_2() {
    let shared: &[(&[&str], &str)] = &[
        (&["--bogus"], "unknown argument \"--bogus\""),
        (&["--port", "http"], "--port takes a port from 0 to 65535"),
        (
            &["--port", "70000"],
            "--port takes a port from 0 to 65535, not \"70000\"",
        ),
        (&["--port"], "--port needs a value"),
        (&["--port", "--registry", "x"], "--port needs a value"),
    ];
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "worker",
            &["--max-n", "-1"],
            "--max-n takes a whole number from 0 to",
        ),
        (
            "worker",
            &["--max-n", "99999999999999999999"],
            "--max-n takes a whole number from 0 to 18446744073709551615, not \"99999999999999999999\"",
        ),
        (
            "worker",
            &["--timeout", "0"],
            "--timeout takes a number of seconds above 0",
        ),
        (
            "worker",
            &["--timeout", "inf"],
            "--timeout takes a number of seconds above 0 and at most 86400 (one day), not inf",
        ),
        (
            "load_balancer",
            &["--worker-timeout", "1e300"],
            "--worker-timeout takes a number of seconds above 0 and at most 86400 (one day)",
        ),
        (
            "worker",
            &["--max-connections", "0"],
            "--max-connections must be at least 1",
        ),
        (
            "load_balancer",
            &["--strategy", "fastest"],
            "expected round-robin, random or least-connections",
        ),
        (
            "load_balancer",
            &["--threads", "pool"],
            "expected spawn or reuse",
        ),
        (
            "load_balancer",
            &["--cooldown", "soon"],
            "bad value \"soon\" for --cooldown",
        ),
        ("client", &["1", "2"], "unexpected argument \"2\""),
        (
            "client",
            &["--timeout", "inf"],
            "--timeout takes a number of seconds above 0 and at most 86400 (one day), not inf",
        ),
    ];
    for program in ["worker", "load_balancer", "client"] {
        let own = cases.iter().filter(|(p, _, _)| *p == program);
        let checks = shared
            .iter()
            .copied()
            .chain(own.map(|(_, args, message)| (*args, *message)));
        for (args, message) in checks {
            let output = run(program, args);
            assert_eq!(output.status.code(), Some(2), "{program} {args:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.starts_with(&format!("{program}: ")), "{stderr}");
            assert!(stderr.contains(message), "{program} {args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("Try '{program} --help'")),
                "{stderr}"
            );
            assert!(output.stdout.is_empty(), "{program} {args:?}");
        }
    }
}
