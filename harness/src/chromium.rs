//! Headless Chromium, as Debian's `chromium` package installs it, with a fresh profile: the
//! status page's tests (`tests/browser/`) and the benchmark's `ours-browser` target show the
//! load balancer's page in it, and reach it over its DevTools.

use std::path::PathBuf;
use std::process::Command;

use common::armour::error::Error;

use crate::lab::{Lab, PATIENCE};
use crate::process::{Echo, Running};

/// `chromium` on PATH, or why there is none (then the tests that need it say they skipped).
pub fn program() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|program| program.is_file())
        .ok_or_else(|| {
            "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
                .to_string()
        })
}

/// A headless Chromium showing one page; stopped, with its helper processes, and its profile
/// removed, when dropped.
pub struct Chromium {
    /// Where its DevTools listen, `HOST:PORT` on loopback.
    pub devtools: String,
    /// Declared before the profile, so stopped before the profile's folder is removed.
    _process: Running,
    /// Its profile (`--user-data-dir`), a fresh folder.
    _profile: Lab,
}

impl Chromium {
    /// Starts Chromium with a window of `width` × `height` showing `url`, and waits until its
    /// DevTools listen. Started as the issue asks: headless, no sandbox (CI runs as root), no
    /// GPU, and nothing of its own fetched from the network.
    pub fn open(url: &str, width: u32, height: u32) -> Result<Chromium, Error> {
        let profile = Lab::new("chromium")?;
        let mut command = Command::new(program().map_err(Error::new)?);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.dir().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(url);
        let mut process = Running::start("chromium", command, Echo::Quiet)?;
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…", on stderr.
        let line = process.wait_for("DevTools listening on ws://", PATIENCE)?;
        let devtools = line
            .split("ws://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string)
            .ok_or_else(|| Error::new(format!("no DevTools address in {line:?}")))?;
        Ok(Chromium {
            devtools,
            _process: process,
            _profile: profile,
        })
    }
}
