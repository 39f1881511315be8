//! The load balancer's status page (`load_balancer --status`), end to end: the real programs,
//! the page read over plain HTTP and in headless Chromium, hostile HTTP clients, and the demo
//! with `--status`.
//!
//! The browser tests need Debian's `chromium` (`.ci/run` installs it); without it they say they
//! skipped, in one summary at the end. `LAB_WRITE_SCREENSHOT=1 cargo test --test
//! end_to_end status::the_demo_with_fault_in_a_browser` writes README's screenshot, `docs/status-page.png`.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use crate::browser;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, Server, ask_text, bind_loopback, dead_addresses, say_skipped};
use harness::process::{Echo, Running, program_path};

use browser::json::Json;
use browser::{Browser, http};

/// The page's own cap on connections (`load_balancer/src/extras/status/http.rs`).
const PAGE_CONNECTIONS: usize = 16;

/// The window the browser tests use, and README's screenshot: a common projector's picture,
/// the smallest a lab room is likely to show the page on.
const WINDOW: (u32, u32) = (1024, 768);

/// The least type size on the page, in CSS pixels, at [`WINDOW`]'s width: a fiftieth of the
/// picture's width, the size of a slide's body text, read from the back of a lab room.
const READABLE_PX: f64 = 20.0;

/// Each state's colour in the page's style (`page.css`): what the screenshot must show.
const COLOURS: [(&str, [u8; 3]); 3] = [
    ("up", [0x1b, 0x7a, 0x38]),
    ("suspect", [0xa3, 0x5f, 0x00]),
    ("down", [0xb3, 0x26, 0x1e]),
];

// ---- Starting a lab with the page ----

/// Three workers and a load balancer with `--status` on a free port, and `extra` flags.
fn lab_with_page(name: &str, extra: &[&str]) -> (Lab, Vec<Server>, Server, u16) {
    let lab = Lab::new(name).unwrap();
    let workers = lab.start_workers(3, &[]).unwrap();
    let mut args = vec!["--status", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut balancer = lab.start_load_balancer(&args).unwrap();
    let page = page_port(&mut balancer);
    (lab, workers, balancer, page)
}

/// The page's port, from the load balancer's `Status page at http://127.0.0.1:PORT/` line.
fn page_port(balancer: &mut Server) -> u16 {
    let line = balancer
        .process
        .wait_for("Status page at http://127.0.0.1:", PATIENCE)
        .unwrap();
    port_in_url(&line)
}

/// The port of the first `http://HOST:PORT/` in `text`.
fn port_in_url(text: &str) -> u16 {
    let url = text.split("http://").nth(1).unwrap();
    let address = url.split('/').next().unwrap();
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Asks the load balancer for n! and checks the answer.
fn ask(port: u16, n: u64) {
    assert_eq!(ask_text(port, &n.to_string()).unwrap(), factorial_digits(n));
}

/// `/status.json`, parsed.
fn status_json(page: u16) -> Json {
    let reply = http::get(page, "/status.json").unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    Json::parse(&reply.body).unwrap()
}

/// Waits until the load balancer has logged `count` more lines holding `pattern`.
fn wait_for_lines(balancer: &mut Server, pattern: &str, count: usize) {
    for _ in 0..count {
        balancer.process.wait_for(pattern, PATIENCE).unwrap();
    }
}

// ---- What the page shows, read three ways ----

/// One worker's row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    address: String,
    state: String,
    in_progress: u64,
    answered: u64,
    failures: u64,
}

/// What the page shows that can be checked against the log: the request count, each worker's
/// row, and each recent request's n and the worker that answered it, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    requests: u64,
    workers: Vec<Row>,
    recent: Vec<(u64, Option<String>)>,
}

/// What `/status.json` says.
fn shown_in_json(json: &Json) -> Shown {
    Shown {
        requests: json.get("requests").count().unwrap(),
        workers: json
            .get("workers")
            .items()
            .iter()
            .map(|w| Row {
                address: w.get("address").text().unwrap().to_string(),
                state: w.get("state").text().unwrap().to_string(),
                in_progress: w.get("in_progress").count().unwrap(),
                answered: w.get("answered").count().unwrap(),
                failures: w.get("failures").count().unwrap(),
            })
            .collect(),
        recent: json
            .get("recent")
            .items()
            .iter()
            .map(|r| {
                let by = r.get("answered_by").text().map(String::from);
                (r.get("n").text().unwrap().parse().unwrap(), by)
            })
            .collect(),
    }
}

/// Reads the page as the browser shows it, drawn by its script: the fields of `/status.json`
/// that [`Shown`] holds, under the same names, from the page's text.
const READ_THE_PAGE: &str = r#"(() => {
  const main = document.getElementById("status");
  const cell = (row, name) => row.querySelector("." + name).textContent;
  const relayed = (row) => row.querySelector(".attempt.relayed");
  return {
    updates: Number(main.dataset.updates || 0),
    requests: Number(main.querySelector(".summary .requests").textContent),
    workers: [...main.querySelectorAll("table.workers tr.worker")].map((r) => ({
      address: r.dataset.address,
      state: cell(r, "state"),
      why: cell(r, "why"),
      in_progress: Number(cell(r, "in-progress")),
      answered: Number(cell(r, "answered")),
      failures: Number(cell(r, "failures")),
    })),
    recent: [...main.querySelectorAll("table.recent tr.request")].map((r) => ({
      n: cell(r, "n"),
      answered_by: relayed(r) ? relayed(r).dataset.address : null,
    })),
  };
})()"#;

/// What `GET /` shows without its script (as with JavaScript off), from its HTML.
fn shown_without_script(page: &str) -> Shown {
    let between = |text: &str, start: &str, end: &str| -> String {
        let from = text
            .find(start)
            .unwrap_or_else(|| panic!("no {start:?} in {text}"));
        let rest = &text[from + start.len()..];
        rest[..rest.find(end).unwrap()].to_string()
    };
    // What the page shows, not its script, which holds the same markup as templates.
    let html = &between(page, "<main id=\"status\">", "</main>");
    let cell = |row: &str, name: &str| between(row, &format!("<td class=\"{name}\">"), "</td>");
    let number = |row: &str, name: &str| -> u64 {
        let text = cell(row, name);
        text.parse()
            .unwrap_or_else(|_| panic!("{name} is {text:?} in {row}"))
    };
    let rows = |class: &str| -> Vec<String> {
        html.split(&format!("<tr class=\"{class} "))
            .skip(1)
            .map(|row| row[..row.find("</tr>").unwrap()].to_string())
            .collect()
    };
    Shown {
        requests: between(html, "<b class=\"requests\">", "</b>")
            .parse()
            .unwrap(),
        workers: rows("worker")
            .iter()
            .map(|r| Row {
                address: between(r, "data-address=\"", "\""),
                state: cell(r, "state"),
                in_progress: number(r, "in-progress"),
                answered: number(r, "answered"),
                failures: number(r, "failures"),
            })
            .collect(),
        recent: rows("request")
            .iter()
            .map(|r| {
                let by = r
                    .contains("attempt relayed")
                    .then(|| between(r, "<span class=\"attempt relayed\" data-address=\"", "\""));
                (number(r, "n"), by)
            })
            .collect(),
    }
}

/// What the load balancer's own log lines say, for requests sent one at a time: each
/// `Received request for factorial of N` and the `Forwarded to worker (…)` after it, each
/// `Error communicating with worker (…)`, and which workers were marked down. `listed` is the
/// registry's workers, in order.
fn shown_in_log(lines: &[String], listed: &[String]) -> Shown {
    let address = |line: &str, after: &str| -> String {
        // "… worker ('127.0.0.1', 41059) …" -> "127.0.0.1:41059"
        let tuple = between_parens(&line[line.find(after).unwrap() + after.len()..]);
        let (host, port) = tuple.split_once("', ").unwrap();
        format!("{}:{port}", host.trim_start_matches('\''))
    };
    let mut rows: BTreeMap<String, Row> = listed
        .iter()
        .map(|a| {
            let row = Row {
                address: a.clone(),
                state: "up".into(),
                in_progress: 0,
                answered: 0,
                failures: 0,
            };
            (a.clone(), row)
        })
        .collect();
    let mut served = Vec::new();
    for line in lines {
        if let Some(n) = line.strip_prefix("Received request for factorial of ") {
            served.push((n.parse().unwrap(), None));
        } else if line.starts_with("Forwarded to worker (") {
            let worker = address(line, "worker ");
            rows.get_mut(&worker).unwrap().answered += 1;
            served.last_mut().unwrap().1 = Some(worker);
        } else if line.starts_with("Error communicating with worker (") {
            rows.get_mut(&address(line, "worker ")).unwrap().failures += 1;
        } else if line.contains(") marked down") {
            rows.get_mut(&address(line, "Worker ")).unwrap().state = "down".into();
        }
    }
    served.reverse();
    // The page lists the last ten (`RECENT` in load_balancer/src/extras/status/board.rs).
    served.truncate(10);
    Shown {
        requests: lines
            .iter()
            .filter(|l| l.starts_with("Received request for factorial of "))
            .count() as u64,
        workers: listed.iter().map(|a| rows[a].clone()).collect(),
        recent: served,
    }
}

/// The text inside the first pair of parentheses in `text`.
fn between_parens(text: &str) -> &str {
    let start = text.find('(').unwrap() + 1;
    &text[start..start + text[start..].find(')').unwrap()]
}

// ---- The page off, on, and its two addresses ----

/// Without `--status` nothing of the page runs: the load balancer listens on its own port
/// only, starts no thread for a page and prints no page's address. With it, it listens on
/// one more port, from a thread of its own.
#[test]
fn the_page_is_off_unless_asked_for() {
    let lab = Lab::new("status-off").unwrap();
    let _workers = lab.start_workers(1, &[]).unwrap();
    let mut plain = lab.start_load_balancer(&[]).unwrap();
    ask(plain.port, 5);
    if let Some(ports) = listening_ports(plain.process.pid()) {
        assert_eq!(ports, [plain.port]);
    }
    if let Some(names) = thread_names(plain.process.pid()) {
        assert!(!names.contains(&"status page".to_string()));
    }

    let mut with_page = lab
        .start_load_balancer(&["--status", "127.0.0.1:0"])
        .unwrap();
    let page = page_port(&mut with_page);
    ask(with_page.port, 5);
    let mut expected = vec![with_page.port, page];
    expected.sort();
    if let Some(ports) = listening_ports(with_page.process.pid()) {
        assert_eq!(ports, expected);
    }
    if let Some(names) = thread_names(with_page.process.pid()) {
        assert!(names.contains(&"status page".to_string()));
    }

    let printed = plain.process.printed();
    assert!(
        !printed.iter().any(|l| l.contains("Status page")),
        "{printed:#?}"
    );
}

/// The TCP ports process `pid` listens on, sorted, from the system's tables of listening
/// sockets, which name each one's process on Windows (see harness::win32). Under Wine they
/// name none (process 0): then the test says that part skipped, and `None`.
#[cfg(windows)]
fn listening_ports(pid: u32) -> Option<Vec<u16>> {
    let listeners = harness::win32::listeners().unwrap();
    if listeners.iter().all(|&(_, owner)| owner == 0) {
        // Said once, though asked for each of the test's two load balancers.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            say_skipped(
                "the_page_is_off_unless_asked_for (its listening ports)",
                "this system's table of sockets names no process that listens (Wine's gives 0)",
            )
        });
        return None;
    }
    let mut ports: Vec<u16> = listeners
        .into_iter()
        .filter(|&(_, owner)| owner == pid)
        .map(|(port, _)| port)
        .collect();
    ports.sort();
    Some(ports)
}

/// The TCP ports process `pid` listens on, sorted, from Linux's /proc: the sockets among its
/// open files that the kernel's tables list as listening.
#[cfg(not(windows))]
fn listening_ports(pid: u32) -> Option<Vec<u16>> {
    let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap();
        for line in text.lines().skip(1) {
            // number, local address:port (hex), remote, state (0A is LISTEN), …, inode (10th)
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields[3] == "0A" && sockets.iter().any(|s| s == fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports.sort();
    Some(ports)
}

/// The names of process `pid`'s threads, from Linux's /proc; on Windows, where no other
/// process's thread names can be listed as simply, the test says that part skipped, and
/// `None`.
fn thread_names(pid: u32) -> Option<Vec<String>> {
    if cfg!(windows) {
        // Said once, though asked for each of the test's two load balancers.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            say_skipped(
                "the_page_is_off_unless_asked_for (the page's thread)",
                "Windows has no /proc to list another process's threads by name",
            )
        });
        return None;
    }
    let names = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect();
    Some(names)
}

/// `--help` names the flag; a bad value is refused with exit code 2 before anything starts;
/// a port already taken stops the load balancer with exit code 1 and says which flag to
/// change; beyond loopback, the page warns as the load balancer does.
#[test]
fn the_flag_its_mistakes_and_its_warning() {
    let lab = Lab::new("status-flag").unwrap();
    let load_balancer = |args: &[&str]| {
        Command::new(program_path("load_balancer").unwrap())
            .args(args)
            .current_dir(lab.dir())
            .output()
            .unwrap()
    };
    let help = load_balancer(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--status [HOST:]PORT"));
    for (args, said) in [
        (
            &["--status", "web"][..],
            "bad value \"web\" for --status: expected PORT or HOST:PORT",
        ),
        (&["--status"][..], "--status needs a value"),
        (
            &["--status", "127.0.0.1:70000"][..],
            "expected PORT or HOST:PORT",
        ),
    ] {
        let output = load_balancer(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }

    let (_taken, port) = bind_loopback().unwrap();
    let taken = format!("127.0.0.1:{port}");
    let output = load_balancer(&["--port", "0", "--status", &taken]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said =
        format!("cannot serve the status page on {taken}: address in use; choose another --status");
    assert!(stderr.contains(&said), "{stderr}");

    let _workers = lab.start_workers(1, &[]).unwrap();
    let mut everywhere = lab.start_load_balancer(&["--status", "0.0.0.0:0"]).unwrap();
    everywhere
        .process
        .wait_for("Status page at ", PATIENCE)
        .unwrap();
    // On stderr, which comes through a pipe of its own, read by a thread of its own that busy
    // cores may wake late: looked for among every line, until it comes.
    let warning = "Warning: the status page listens beyond this machine";
    let warned = |process: &mut Running| {
        let printed = process.drain_when_quiet(Duration::from_millis(200), PATIENCE);
        printed.iter().any(|l| l.text.starts_with(warning))
    };
    let deadline = Instant::now() + PATIENCE;
    while !warned(&mut everywhere.process) {
        assert!(
            Instant::now() < deadline,
            "no {warning:?} in {PATIENCE:?}: {:#?}",
            everywhere.process.printed()
        );
    }
    let mut here = lab.start_load_balancer(&["--status", "0"]).unwrap();
    let line = here.process.wait_for("Status page at ", PATIENCE).unwrap();
    assert!(
        line.starts_with("Status page at http://127.0.0.1:"),
        "{line}"
    );
    assert!(!warned(&mut here.process));
}

/// `GET /` is the page and `GET /status.json` its data (a query string is ignored); any other
/// path is `404`, any other method but `HEAD` `405` with `Allow: GET, HEAD`, and what is not
/// HTTP `400`. The
/// page holds everything it needs: no address of any other server, no file to fetch but its
/// data, and with JavaScript off it reloads itself.
#[test]
fn only_the_page_and_its_data_are_served() {
    let (_lab, _workers, balancer, page) = lab_with_page("status-paths", &[]);
    ask(balancer.port, 7);

    let html = http::get(page, "/").unwrap();
    assert_eq!(html.status, 200, "{html:?}");
    assert_eq!(
        html.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(html.header("Cache-Control"), Some("no-store"));
    assert_eq!(
        html.header("Content-Length"),
        Some(html.body.len().to_string().as_str())
    );
    assert!(
        html.header("Content-Security-Policy")
            .is_some_and(|csp| csp.starts_with("default-src 'none';")),
        "{}",
        html.head
    );
    assert!(
        html.body
            .contains("<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>")
    );
    for outside in ["://", " src=", "<link", "@import", "url("] {
        assert!(!html.body.contains(outside), "the page holds {outside:?}");
    }
    assert!(html.body.contains("fetch(\"/status.json\""));

    for path in ["/status.json", "/status.json?t=1"] {
        let json = http::get(page, path).unwrap();
        assert_eq!(json.status, 200, "{path}: {json:?}");
        assert_eq!(json.header("Content-Type"), Some("application/json"));
        Json::parse(&json.body).unwrap();
    }

    for path in [
        "/status",
        "/index.html",
        "/favicon.ico",
        "/status.json/",
        "//",
    ] {
        assert_eq!(http::get(page, path).unwrap().status, 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        for path in ["/", "/status.json"] {
            let request =
                format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
            let reply = http::send(page, &request).unwrap();
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("Allow"), Some("GET, HEAD"), "{method} {path}");
        }
    }
    for garbage in [
        "hello\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / SMTP/1.0\r\n\r\n",
        "12\n\n",
    ] {
        assert_eq!(
            http::send(page, garbage).unwrap().status,
            400,
            "{garbage:?}"
        );
    }
    // HTTP/1.0, and a request typed by hand with bare newlines, are served.
    assert_eq!(
        http::send(page, "GET /status.json HTTP/1.0\n\n")
            .unwrap()
            .status,
        200
    );
}

/// `HEAD` gets `GET`'s head without its body (it got `405`); a `Host` that names another
/// server, as a web page's own name pointed at 127.0.0.1 does (DNS rebinding), gets `421`
/// and no data (any `Host` was served), while the page's own addresses and `localhost` are
/// served.
#[test]
fn head_is_answered_and_only_the_pages_own_names() {
    let (_lab, _workers, balancer, page) = lab_with_page("status-host", &[]);
    ask(balancer.port, 7);
    let request = |method: &str, path: &str, host: &str| {
        let text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        http::send(page, &text).unwrap()
    };
    for path in ["/", "/status.json"] {
        let get = request("GET", path, &format!("127.0.0.1:{page}"));
        let head = request("HEAD", path, &format!("127.0.0.1:{page}"));
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(head.body, "", "{head:?}");
        for header in ["Content-Type", "Cache-Control", "Content-Security-Policy"] {
            assert_eq!(head.header(header), get.header(header), "{path} {header}");
        }
        assert!(head.header("Content-Length").is_some(), "{head:?}");

        for host in [
            format!("localhost:{page}"),
            format!("[::1]:{page}"),
            "127.0.0.1".into(),
        ] {
            assert_eq!(request("GET", path, &host).status, 200, "{host}");
        }
        for host in [format!("rebind.example:{page}"), "127.0.0.1.nip.io".into()] {
            let refused = request("GET", path, &host);
            assert_eq!(refused.status, 421, "{host}: {refused:?}");
            assert!(!refused.body.contains("workers"), "{host}: {refused:?}");
        }
    }
}

/// An n above 2^53 is shown exactly, in `/status.json` and on the page in a browser: the data
/// sends n as a string of digits, where JavaScript's numbers showed 9007199254740993 as
/// 9007199254740992.
#[test]
fn an_n_above_two_to_the_53_is_shown_exactly() {
    let test = "an_n_above_two_to_the_53_is_shown_exactly";
    let (_lab, _workers, balancer, page) = lab_with_page("status-big-n", &[]);
    let n = "9007199254740993";
    let answer = ask_text(balancer.port, n).unwrap();
    assert!(
        answer.starts_with("Error: 9007199254740993 is above"),
        "{answer}"
    );
    let json = status_json(page);
    assert_eq!(
        json.get("recent").items()[0].get("n").text(),
        Some(n),
        "{json}"
    );
    let Some(mut browser) = browser(test, &format!("http://127.0.0.1:{page}/")) else {
        return;
    };
    let shown = browser
        .wait_until(
            "the request's n",
            "document.querySelector('table.recent tr.request td.n')?.textContent ?? null",
            |v| v.text().is_some_and(|t| t.len() >= 16),
        )
        .unwrap();
    assert_eq!(shown.text(), Some(n));
}

/// docs/protocol.md documents every field of `/status.json` and no other: its tables of the
/// top level, of each worker, of each recent request and of each attempt list exactly the
/// fields the load balancer sends, in the same order.
#[test]
fn docs_protocol_md_names_every_field_of_status_json() {
    let (lab, _workers, balancer, page) = lab_with_page("status-fields", &[]);
    // A dead worker in the registry, so that a request meets a failure and a worker is down.
    let dead = &dead_addresses(1)[0];
    append_to_registry(&lab, &format!("{}:{}", dead.host, dead.port));
    for n in 0..4 {
        ask(balancer.port, n);
    }
    let json = status_json(page);
    let docs = std::fs::read_to_string(top().join("docs/protocol.md")).unwrap();
    let tables = documented_fields(&docs);
    let worker = &json.get("workers").items()[0];
    let request = &json.get("recent").items()[0];
    let attempt = &request.get("attempts").items()[0];
    for (table, object) in [
        ("`/status.json`", &json),
        ("each of `workers`", worker),
        ("each of `recent`", request),
        ("each of a request's `attempts`", attempt),
    ] {
        let documented = tables
            .get(table)
            .unwrap_or_else(|| panic!("no table for {table} in docs/protocol.md: {tables:?}"));
        assert_eq!(documented, &object.keys(), "{table}");
    }
}

/// The workspace's top folder.
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Appends `line` to the lab's registry, as a hand-written entry.
fn append_to_registry(lab: &Lab, line: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(lab.registry())
        .unwrap();
    writeln!(file, "{line}").unwrap();
}

/// The fields docs/protocol.md's section on the status page lists, table by table: each
/// `### Fields of …` heading and the backticked names in the first column of its table.
fn documented_fields(docs: &str) -> BTreeMap<String, Vec<&str>> {
    let mut tables: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut table = None;
    for line in docs.lines() {
        if let Some(heading) = line.strip_prefix("### Fields of ") {
            table = Some(heading.trim().to_string());
            continue;
        }
        if line.starts_with('#') {
            table = None;
        }
        let (Some(name), Some(cell)) = (&table, line.strip_prefix("| `")) else {
            continue;
        };
        let field = &cell[..cell.find('`').unwrap()];
        tables.entry(name.clone()).or_default().push(field);
    }
    tables
}

/// A worker frozen as Ctrl-Z freezes it goes through every state the page shows: suspected
/// (it answered nothing while another worker answered its request at once), then down (it did
/// not answer its health check either), then back up once it is woken, each with its reason
/// and the time it changed.
#[test]
fn a_frozen_worker_is_suspect_then_down_then_back_up() {
    let (_lab, mut workers, mut balancer, page) = lab_with_page("status-frozen", &[]);
    let frozen = format!("127.0.0.1:{}", workers[0].port);
    let row = |json: &Json| -> Json {
        let rows = json.get("workers").items();
        rows.iter()
            .find(|w| w.get("address").text() == Some(frozen.as_str()))
            .unwrap()
            .clone()
    };
    let until = |what: &str, done: &dyn Fn(&Json) -> bool| -> Json {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let worker = row(&status_json(page));
            if done(&worker) {
                return worker;
            }
            assert!(Instant::now() < deadline, "never {what}: {worker}");
            thread::sleep(Duration::from_millis(100));
        }
    };
    let is = |w: &Json, state: &str, reasons: &[&str]| {
        w.get("state").text() == Some(state)
            && reasons.iter().any(|r| w.get("reason").text() == Some(r))
    };

    workers[0].process.signal("STOP").unwrap();
    // The first request's turn is the first worker's: after a second another is asked too.
    ask(balancer.port, 9);
    balancer
        .process
        .wait_for(") is slow: no answer in", PATIENCE)
        .unwrap();
    let suspect = until("suspected", &|w| {
        is(w, "suspect", &["silent"]) || is(w, "down", &["no-answer-to-check"])
    });
    assert!(suspect.get("since").count().is_some(), "{suspect}");
    assert!(
        suspect.get("next_check_in_seconds").number().is_some(),
        "{suspect}"
    );

    balancer
        .process
        .wait_for(") marked down: no answer to a health check", PATIENCE)
        .unwrap();
    let down = until("down", &|w| is(w, "down", &["no-answer-to-check"]));
    let why = down.get("why").text().unwrap();
    assert!(why.contains("no answer to a health check"), "{down}");
    assert!(
        down.get("since").count() >= suspect.get("since").count(),
        "{down}"
    );

    // The paused request: the frozen worker asked first, still waiting, and the next one too.
    let request = status_json(page).get("recent").items()[0].clone();
    let attempts = request.get("attempts").items();
    assert_eq!(attempts.len(), 2, "{request}");
    assert_eq!(attempts[0].get("worker").text(), Some(frozen.as_str()));
    assert_eq!(
        attempts[0].get("outcome").text(),
        Some("waiting"),
        "{request}"
    );
    assert_eq!(attempts[1].get("hedge"), &Json::Bool(true), "{request}");
    assert_eq!(
        attempts[1].get("outcome").text(),
        Some("relayed"),
        "{request}"
    );

    workers[0].process.signal("CONT").unwrap();
    balancer.process.wait_for(") is back up", PATIENCE).unwrap();
    let back = until("back up", &|w| is(w, "up", &["answered", "answered-check"]));
    assert!(
        back.get("why")
            .text()
            .unwrap()
            .starts_with("back up: it answered"),
        "{back}"
    );
    assert!(
        back.get("since").count() >= down.get("since").count(),
        "{back}"
    );
    // Woken, it answers the request it held: a right answer, not needed.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let request = status_json(page).get("recent").items()[0].clone();
        let outcome = request.get("attempts").items()[0].get("outcome").clone();
        if outcome.text() == Some("dropped") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the held answer never came: {request}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// While the page is watched (its data read once a second, as the open page reads it), a
/// worker killed and one frozen with Ctrl-Z while the lab is idle are shown down within a
/// check interval and a check's time, with no request sent: the workers that are up are
/// checked on a timer while the page is watched, as HAProxy checks every `inter`. (They
/// stayed `up` until a request failed on them.) The third worker stays up.
#[test]
fn a_watched_page_shows_killed_and_frozen_workers_down() {
    let (_lab, mut workers, mut balancer, page) = lab_with_page("status-watched", &[]);
    let state = |json: &Json, port: u16| -> String {
        let address = format!("127.0.0.1:{port}");
        let rows = json.get("workers").items();
        let row = rows
            .iter()
            .find(|w| w.get("address").text() == Some(address.as_str()));
        row.unwrap().get("state").text().unwrap().to_string()
    };
    let (killed, frozen, live) = (workers[0].port, workers[1].port, workers[2].port);
    assert_eq!(state(&status_json(page), killed), "up");
    workers[0].process.kill();
    workers[1].process.signal("STOP").unwrap();
    let mut reads = 0;
    loop {
        let json = status_json(page);
        reads += 1;
        if state(&json, killed) == "down" && state(&json, frozen) == "down" {
            assert_eq!(state(&json, live), "up", "{json}");
            break;
        }
        assert!(
            reads < 60,
            "not both shown down after {reads} reads a second apart: {json}"
        );
        thread::sleep(Duration::from_secs(1)); // the open page's pace
    }
    // Each is said in a line of its own, in either order, and the log thread may print them a
    // moment after the page shows them (seen on busy cores).
    let down = |port: u16| format!("Worker ('127.0.0.1', {port}) marked down");
    let mut marked: Vec<String> = Vec::new();
    while ![killed, frozen]
        .iter()
        .all(|&port| marked.iter().any(|line| line.starts_with(&down(port))))
    {
        marked.push(balancer.process.wait_for("marked down", PATIENCE).unwrap());
    }
    let printed = balancer.process.printed();
    assert!(
        !printed.iter().any(|l| l.starts_with("Received request")),
        "{printed:#?}"
    );
}

/// Round-robin made visible (docs/lab-guide.md, experiment 2): before each request the page
/// names the worker whose turn comes next, and frames its box; that worker is the one that
/// then serves the request, and its count of answers goes up by one.
#[test]
fn the_page_shows_whose_turn_comes_next() {
    let (_lab, _workers, mut balancer, page) = lab_with_page("status-turns", &[]);
    for turn in 0..6 {
        let json = fresh_status(page, turn);
        assert_eq!(json.get("turn").count(), Some(turn), "{json}");
        let next = json.get("next_worker").text().unwrap().to_string();
        let answered = |json: &Json| {
            let rows = json.get("workers").items();
            let row = rows
                .iter()
                .find(|w| w.get("address").text() == Some(next.as_str()));
            row.unwrap().get("answered").count().unwrap()
        };
        let before = answered(&json);
        let html = http::get(page, "/").unwrap().body;
        let framed = format!("<div class=\"box worker up next\" data-address=\"{next}\">");
        assert!(html.contains(&framed), "no frame on {next}");
        ask(balancer.port, 5);
        let served = balancer.wait_for_forwards(1).unwrap()[0];
        assert_eq!(next, format!("127.0.0.1:{served}"), "turn {turn}");
        assert_eq!(answered(&fresh_status(page, turn + 1)), before + 1);
    }
}

/// `/status.json` once it counts `requests` requests: a view is served for a tenth of a
/// second, so one taken just before the last request may still be served.
fn fresh_status(page: u16, requests: u64) -> Json {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let json = status_json(page);
        if json.get("requests").count() == Some(requests) {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "never {requests} requests: {json}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

// ---- Hostile HTTP clients cost only the page ----

/// The lines of a lab at work: all the load balancer may print while a test sends requests.
const LAB_LINES: [&str; 4] = [
    "Client connected: ",
    "Received request for factorial of ",
    "Forwarded to worker ",
    "Response sent to client: ",
];

/// Asks the lab for 12! ten times while the page is under attack: every answer arrives.
fn the_lab_answers(balancer: &Server) {
    for _ in 0..10 {
        ask(balancer.port, 12);
    }
}

/// The load balancer printed nothing but the lab's own lines since it started: an attack on
/// the page fills no terminal.
fn only_lab_lines_in_the_log(balancer: &mut Server) {
    let printed = balancer.process.printed();
    let own = |l: &String| {
        LAB_LINES.iter().any(|start| l.starts_with(start))
            || [
                "Load Balancer listening",
                "Reading the workers",
                "Status page at",
            ]
            .iter()
            .any(|start| l.starts_with(start))
            || l.ends_with(" workers in worker_ports.txt")
    };
    let other: Vec<&String> = printed.iter().filter(|l| !own(l)).collect();
    assert!(other.is_empty(), "the load balancer printed: {other:#?}");
}

/// After an attack, the page serves again: `/status.json` within [`PATIENCE`] (the attack's
/// connections still held free their places by the page's deadline).
fn the_page_serves_again(page: u16) -> Json {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(reply) = http::get(page, "/status.json") {
            if reply.status == 200 {
                return Json::parse(&reply.body).unwrap();
            }
        }
        assert!(Instant::now() < deadline, "the page does not serve again");
        thread::sleep(Duration::from_millis(100));
    }
}

/// One hostile connection: what it received until the page closed it.
struct Held {
    /// What the page sent.
    received: Vec<u8>,
}

/// Connects to the page and reads what it sends until it closes, on a thread of its own, while
/// `write` (given a clone of the stream) sends whatever it likes.
fn hold(page: u16, write: impl FnOnce(TcpStream) + Send + 'static) -> thread::JoinHandle<Held> {
    let mut stream = TcpStream::connect(("127.0.0.1", page)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let writer = stream.try_clone().unwrap();
    thread::spawn(move || {
        let writing = thread::spawn(move || write(writer));
        let mut received = Vec::new();
        // A reset after the page's answer is fine: what was read before it counts.
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = stream.shutdown(Shutdown::Both);
        writing.join().unwrap();
        Held { received }
    })
}

/// Slowloris: more connections than the page's cap, each sending its request a byte at a
/// time and never finishing it. The lab answers meanwhile; those the page admitted get
/// `408 Request Timeout` at its deadline, those over its cap are closed without a word; the
/// log shows nothing of it, and the page serves again afterwards.
#[test]
fn slow_clients_cost_only_the_page() {
    let (_lab, _workers, mut balancer, page) = lab_with_page("status-slowloris", &[]);
    let trickling: Vec<_> = (0..PAGE_CONNECTIONS + 8)
        .map(|_| {
            hold(page, |mut stream| {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\n");
                // One byte a tenth of a second, until the page closes the connection.
                while stream.write_all(b"X").is_ok() {
                    thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    the_lab_answers(&balancer);
    let held: Vec<Held> = trickling.into_iter().map(|h| h.join().unwrap()).collect();
    let timed_out = held
        .iter()
        .filter(|h| h.received.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"))
        .count();
    let closed = held.iter().filter(|h| h.received.is_empty()).count();
    assert_eq!(timed_out + closed, held.len(), "each got a 408 or nothing");
    assert!(
        (1..=PAGE_CONNECTIONS).contains(&timed_out),
        "{timed_out} got a 408"
    );
    assert!(closed >= 8, "{closed} were closed over the cap");
    the_page_serves_again(page);
    the_lab_answers(&balancer);
    only_lab_lines_in_the_log(&mut balancer);
}

/// A request line over 8 KiB gets `414 URI Too Long`, headers over 8 KiB `431`, and a request
/// line that never ends is cut off: the page stops reading at its limit, so the sender's
/// writes fail after a few megabytes at most (what the two sockets' buffers hold). The lab
/// answers meanwhile, the log shows nothing, and the page serves again.
#[test]
fn huge_requests_cost_only_the_page() {
    let (_lab, _workers, mut balancer, page) = lab_with_page("status-huge", &[]);
    let endless = thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", page)).unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = stream.write(b"GET /").unwrap();
        while let Ok(n) = stream.write(&chunk) {
            sent += n;
            if sent > 1024 * 1024 * 1024 {
                break; // a gigabyte read: the page did not stop at its limit
            }
        }
        sent
    });
    // Each in one write: just over the limit, as a head that arrives in one read is measured
    // too, and far over it.
    let mut refused = Vec::new();
    for size in [8 * 1024 + 100, 64 * 1024] {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(size));
        let long_headers = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "b".repeat(size));
        let line = hold(page, move |mut s| {
            s.write_all(long_line.as_bytes()).unwrap()
        });
        let headers = hold(page, move |mut s| {
            s.write_all(long_headers.as_bytes()).unwrap()
        });
        refused.push((size, "HTTP/1.1 414 URI Too Long\r\n", line));
        refused.push((
            size,
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            headers,
        ));
    }
    the_lab_answers(&balancer);
    for (size, status, held) in refused {
        let held = held.join().unwrap();
        assert!(
            held.received.starts_with(status.as_bytes()),
            "{size} bytes: {:?}",
            String::from_utf8_lossy(&held.received)
        );
    }
    let sent = endless.join().unwrap();
    assert!(
        sent < 64 * 1024 * 1024,
        "the page read {sent} bytes of one request"
    );
    the_page_serves_again(page);
    only_lab_lines_in_the_log(&mut balancer);
}

/// A thousand connections at once, each silent: the page takes its cap of them and closes the
/// rest at once, unanswered; those it took get `408` at its deadline. The lab answers all the
/// while, its log shows nothing of it, and the page serves again.
#[test]
fn a_thousand_connections_cost_only_the_page() {
    let test = "a_thousand_connections_cost_only_the_page";
    if let Err(why) = enough_file_descriptors(1200) {
        return say_skipped(test, &why);
    }
    let (_lab, _workers, mut balancer, page) = lab_with_page("status-flood", &[]);
    let flood: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let stream = TcpStream::connect(("127.0.0.1", page)).unwrap();
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            stream
        })
        .collect();
    the_lab_answers(&balancer);
    let (mut timed_out, mut closed) = (0, 0);
    for mut stream in flood {
        let mut received = Vec::new();
        // A reset counts as closed, as does an end of file.
        let _ = stream.read_to_end(&mut received);
        if received.starts_with(b"HTTP/1.1 408 Request Timeout\r\n") {
            timed_out += 1;
        } else {
            assert!(
                received.is_empty(),
                "{:?}",
                String::from_utf8_lossy(&received)
            );
            closed += 1;
        }
    }
    // How many were admitted depends on how fast the machine connected them (places free at
    // the page's deadline); without the cap, every one of the thousand would be.
    assert!(timed_out >= 1, "none was served");
    assert!(
        closed >= 1,
        "{timed_out} were served, none closed over the cap"
    );
    the_page_serves_again(page);
    the_lab_answers(&balancer);
    only_lab_lines_in_the_log(&mut balancer);
}

/// Whether this process may open `count` files at once (its soft `ulimit -n`, from
/// /proc/self/limits), or why not.
fn enough_file_descriptors(count: u64) -> Result<(), String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<u64>().ok());
    match soft {
        Some(soft) if soft < count => Err(format!(
            "it holds 1,000 connections, and ulimit -n is {soft}: run it after ulimit -n 4096"
        )),
        _ => Ok(()),
    }
}

// ---- The demo ----

/// The demo (`lab`) with `args`, started as an instructor starts it.
fn start_demo(args: &[&str]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command.args(args);
    Running::start("demo", command, Echo::Quiet).unwrap()
}

/// The demo's scratch folder, from its `Registry file: …/worker_ports.txt` line.
fn demo_folder(demo: &mut Running) -> PathBuf {
    let line = demo.wait_for("Registry file: ", PATIENCE).unwrap();
    let registry = Path::new(line.trim_start_matches("Registry file: "));
    registry.parent().unwrap().to_path_buf()
}

/// The demo's status page, from its `The lab keeps running for the status page at …` line,
/// once every answer has arrived.
fn demo_page(demo: &mut Running) -> u16 {
    // The demo builds the programs first, and asks a number a second.
    let line = demo
        .wait_for(
            "The lab keeps running for the status page at http://",
            PATIENCE * 3,
        )
        .unwrap();
    port_in_url(&line)
}

/// Stops the demo as Ctrl-C in its terminal would (SIGINT to it and every process it started):
/// it exits 0, saying so, and leaves no scratch folder.
fn press_ctrl_c(mut demo: Running, folder: &Path) {
    // Windows carries Ctrl-Break to a program only through a console the two share: none under
    // Wine without a terminal, where the rest of the test has run and this part says so.
    if cfg!(windows) && demo.signal("INT").is_err() {
        return say_skipped(
            "the_demo_with_status_runs_until_ctrl_c (Ctrl-C)",
            "there is no console here to carry Ctrl-Break to the demo",
        );
    }
    #[cfg(not(windows))]
    demo.signal("INT").unwrap();
    let status = demo.wait_for_exit(PATIENCE).unwrap();
    let printed = demo.stdout_lines();
    assert!(status.success(), "{status}: {printed:#?}");
    assert!(
        printed.contains(&"Ctrl-C: stopping them all.".to_string()),
        "{printed:#?}"
    );
    assert!(!folder.exists(), "{} is left behind", folder.display());
}

/// `lab --status` prints the page's address, answers 12, 15 and 7, and then keeps the lab
/// running for the page, which shows each worker's answer, until Ctrl-C.
#[test]
fn the_demo_with_status_runs_until_ctrl_c() {
    let mut demo = start_demo(&["--status"]);
    let folder = demo_folder(&mut demo);
    demo.wait_for("The status page: open http://127.0.0.1:", PATIENCE)
        .unwrap();
    let page = demo_page(&mut demo);
    let json = status_json(page);
    assert_eq!(json.get("requests").count(), Some(3), "{json}");
    let workers = json.get("workers").items();
    assert_eq!(workers.len(), 3, "{json}");
    for worker in workers {
        assert_eq!(worker.get("state").text(), Some("up"), "{worker}");
        assert_eq!(worker.get("answered").count(), Some(1), "{worker}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--status") && help.contains("until Ctrl-C"),
        "{help}"
    );
    press_ctrl_c(demo, &folder);
}

// ---- In a browser ----

/// A browser showing `url`, or `None` (said in the summary) where Chromium is not installed.
fn browser(test: &str, url: &str) -> Option<Browser> {
    if let Err(why) = harness::chromium::program() {
        say_skipped(test, &why);
        return None;
    }
    Some(Browser::open(url, WINDOW.0, WINDOW.1).unwrap())
}

/// The page's worker rows as the browser shows them, each state cell's place in the window.
const STATE_CELLS: &str = r#"[...document.querySelectorAll("table.workers tr.worker")].map((r) => {
  const cell = r.querySelector("td.state").getBoundingClientRect();
  return { state: r.querySelector("td.state").textContent, x: cell.left + 3, y: cell.top + 3,
           bottom: cell.bottom };
})"#;

/// Checks a screenshot of the page: a PNG of the window's size that shows every worker's row,
/// each state cell in its state's colour (`cells`, from [`STATE_CELLS`], taken as the
/// screenshot was). The browser decodes the PNG itself, on a blank page it goes to.
fn check_screenshot(browser: &mut Browser, png: &[u8], base64: &str, cells: &Json) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(
        (number(16), number(20)),
        WINDOW,
        "the PNG's width and height"
    );
    let cells = cells.items();
    assert!(!cells.is_empty(), "no worker rows");
    for cell in cells {
        let bottom = cell.get("bottom").number().unwrap();
        assert!(
            bottom <= f64::from(WINDOW.1),
            "a row below the window: {cell}"
        );
    }
    browser.go_to("about:blank").unwrap();
    let points: Vec<String> = cells
        .iter()
        .map(|c| {
            format!(
                "[{},{}]",
                c.get("x").number().unwrap(),
                c.get("y").number().unwrap()
            )
        })
        .collect();
    let decode = format!(
        r#"new Promise((resolve, reject) => {{
  const image = new Image();
  image.onload = () => {{
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const pen = canvas.getContext("2d");
    pen.drawImage(image, 0, 0);
    const at = ([x, y]) => Array.from(pen.getImageData(x, y, 1, 1).data.slice(0, 3));
    resolve([{points}].map(at));
  }};
  image.onerror = () => reject(new Error("the browser cannot read the PNG"));
  image.src = "data:image/png;base64,{base64}";
}})"#,
        points = points.join(",")
    );
    let colours = browser
        .wait_until("the screenshot decoded", &decode, |v| !v.items().is_empty())
        .unwrap();
    for (cell, colour) in cells.iter().zip(colours.items()) {
        let state = cell.get("state").text().unwrap();
        let expected = COLOURS.iter().find(|(s, _)| *s == state).unwrap().1;
        let seen: Vec<u64> = colour.items().iter().map(|c| c.count().unwrap()).collect();
        let near = seen
            .iter()
            .zip(expected)
            .all(|(&s, e)| s.abs_diff(u64::from(e)) <= 12);
        assert!(near, "the {state} row's cell is {seen:?}, not {expected:?}");
    }
}

/// With three workers and traffic, the browser shows three rows with their counts; after a
/// worker is killed and a request meets it, its row says down and why, and after it restarts,
/// up again — each time without the page being reloaded, drawn by its script from
/// `/status.json`. A screenshot shows the three rows in their states' colours.
#[test]
fn a_browser_follows_a_worker_down_and_back_up() {
    let test = "a_browser_follows_a_worker_down_and_back_up";
    let (lab, mut workers, mut balancer, page) = lab_with_page("status-live", &["--cooldown", "1"]);
    for n in 1..=6 {
        ask(balancer.port, n);
    }
    let Some(mut browser) = browser(test, &format!("http://127.0.0.1:{page}/")) else {
        return;
    };
    let shown = browser
        .wait_until(
            "three workers, two answers each, drawn by its script",
            READ_THE_PAGE,
            |p| {
                let rows = p.get("workers").items();
                p.get("updates").count() >= Some(1)
                    && rows.len() == 3
                    && rows.iter().all(|w| w.get("answered").count() == Some(2))
            },
        )
        .unwrap();
    let drawn_before = shown.get("updates").count().unwrap();
    assert!(drawn_before >= 1, "drawn by the script: {shown}");
    // A reload would make a new document, without this mark.
    browser.evaluate("window.sameDocument = 'yes'").unwrap();

    let stopped = workers[1].port;
    let address = format!("127.0.0.1:{stopped}");
    workers[1].process.kill();
    for n in 7..=9 {
        ask(balancer.port, n);
    }
    balancer
        .process
        .wait_for(") marked down", PATIENCE)
        .unwrap();
    let marked = Instant::now();
    let down = browser
        .wait_until("the killed worker down, and why", READ_THE_PAGE, |p| {
            lists_worker(p, &address, "down", "cannot connect: connection refused")
        })
        .unwrap();
    eprintln!(
        "the page showed the worker down {:.1} s after the load balancer marked it down",
        marked.elapsed().as_secs_f64()
    );
    assert!(
        down.get("updates").count().unwrap() > drawn_before,
        "{down}"
    );
    let (png, base64) = browser.screenshot().unwrap();
    let cells = browser.evaluate(STATE_CELLS).unwrap();

    let again = lab
        .start_worker("worker 2 again", &["--port", &stopped.to_string()])
        .unwrap();
    balancer.process.wait_for(") is back up", PATIENCE).unwrap();
    browser
        .wait_until("the restarted worker up again", READ_THE_PAGE, |p| {
            lists_worker(p, &address, "up", "back up: it answered a health check")
        })
        .unwrap();
    let same = browser.evaluate("window.sameDocument").unwrap();
    assert_eq!(same.text(), Some("yes"), "the page was reloaded");

    let states: Vec<&str> = cells
        .items()
        .iter()
        .map(|c| c.get("state").text().unwrap())
        .collect();
    assert_eq!(states, ["up", "down", "up"]);
    check_screenshot(&mut browser, &png, &base64, &cells);
    drop(again);
}

/// True when the page as `p` reads it lists the worker at `address` in `state`, for `why`.
fn lists_worker(p: &Json, address: &str, state: &str, why: &str) -> bool {
    p.get("workers").items().iter().any(|w| {
        w.get("address").text() == Some(address)
            && w.get("state").text() == Some(state)
            && w.get("why").text() == Some(why)
    })
}

/// The page, as the browser draws it from `/status.json`, shows what `/status.json` says and
/// what the load balancer's own log lines say: each worker's state, requests answered (its
/// `Forwarded to worker` lines), failures (its `Error communicating with worker` lines) and
/// requests in progress, the number of requests, and each recent request's n and the worker
/// that answered it. So does the page as the load balancer draws it, with JavaScript off.
#[test]
fn the_page_shows_what_status_json_and_the_log_say() {
    let test = "the_page_shows_what_status_json_and_the_log_say";
    let (lab, workers, mut balancer, page) = lab_with_page("status-same", &[]);
    let dead = &dead_addresses(1)[0];
    append_to_registry(&lab, &format!("{}:{}", dead.host, dead.port));
    for n in 10..22 {
        ask(balancer.port, n);
    }
    wait_for_lines(&mut balancer, "Response sent to client: ", 12);
    let mut listed: Vec<String> = workers
        .iter()
        .map(|w| format!("127.0.0.1:{}", w.port))
        .collect();
    listed.push(format!("{}:{}", dead.host, dead.port));
    let printed = balancer.process.printed();
    let in_log = shown_in_log(&printed, &listed);
    assert_eq!(in_log.workers[3].failures, 1, "{printed:#?}");

    let json = status_json(page);
    let numbers: Vec<u64> = json
        .get("workers")
        .items()
        .iter()
        .map(|w| w.get("number").count().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4], "each worker's place in the registry");
    let in_json = shown_in_json(&json);
    assert_eq!(in_json, in_log, "/status.json and the log");
    let html = http::get(page, "/").unwrap().body;
    assert_eq!(
        shown_without_script(&html),
        in_log,
        "the page without its script"
    );

    let Some(mut browser) = browser(test, &format!("http://127.0.0.1:{page}/")) else {
        return;
    };
    let drawn = browser
        .wait_until("twelve requests", READ_THE_PAGE, |p| {
            p.get("updates").count() >= Some(1) && p.get("requests").count() == Some(12)
        })
        .unwrap();
    assert_eq!(shown_in_json(&drawn), in_log, "the page in the browser");
}

/// Once the page has loaded, marks it (a reload takes the mark away) and returns how many times
/// its script drew it: `none` with JavaScript off.
const MARK_THE_PAGE: &str = r#"(() => {
  const main = document.getElementById("status");
  if (document.readyState !== "complete" || main === null) return null;
  window.marked = "yes";
  return main.dataset.updates || "none";
})()"#;

/// With JavaScript off, the page as the load balancer draws it shows the workers and the
/// requests, as `/status.json` says, and reloads itself (its `<meta http-equiv="refresh">`
/// inside `<noscript>`), so that it still follows the lab.
#[test]
fn without_javascript_the_page_reloads_itself() {
    let test = "without_javascript_the_page_reloads_itself";
    let (_lab, _workers, balancer, page) = lab_with_page("status-no-script", &[]);
    for n in 1..=4 {
        ask(balancer.port, n);
    }
    let Some(mut browser) = browser(test, &format!("http://127.0.0.1:{page}/")) else {
        return;
    };
    browser.reload_without_javascript().unwrap();
    // A mark on the page that a reload takes away; the script, off, cannot draw the page.
    browser
        .wait_until("the page loaded without its script", MARK_THE_PAGE, |v| {
            v.text() == Some("none")
        })
        .unwrap();
    let shown = browser.evaluate(READ_THE_PAGE).unwrap();
    assert_eq!(
        shown_in_json(&shown),
        shown_in_json(&status_json(page)),
        "{shown}"
    );
    browser
        .wait_until(
            "the page reloaded by itself",
            "window.marked === undefined && document.readyState === 'complete'",
            |v| v == &Json::Bool(true),
        )
        .unwrap();
    let again = browser.evaluate(READ_THE_PAGE).unwrap();
    assert_eq!(again.get("workers").items().len(), 3, "{again}");
}

/// Measures the page as the browser lays it out: the window, how wide the page is, the body's
/// type size and the smallest type of any text shown, each worker row's name, address and
/// bottom edge, and each request row's bottom edge.
const MEASURE_THE_PAGE: &str = r#"(() => {
  const main = document.getElementById("status");
  const shown = (e) => e.getClientRects().length > 0;
  const size = (e) => parseFloat(getComputedStyle(e).fontSize);
  // Every element shown that holds text of its own (not only its children's).
  const texts = [...main.querySelectorAll("*")].filter((e) => shown(e) &&
    [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== ""));
  const smallest = texts.reduce((least, e) => (least === null || size(e) < size(least) ? e : least),
    null);
  const bottom = (e) => e.getBoundingClientRect().bottom;
  return {
    updates: Number(main.dataset.updates || 0),
    requests: Number(main.querySelector(".summary .requests").textContent),
    width: window.innerWidth,
    height: window.innerHeight,
    page_width: document.documentElement.scrollWidth,
    body_px: size(document.body),
    smallest_px: smallest === null ? null : size(smallest),
    smallest: smallest === null ? null : smallest.outerHTML.slice(0, 120),
    workers: [...main.querySelectorAll("table.workers tr.worker")].map((r) => ({
      name: r.querySelector(".name").textContent,
      address: r.querySelector(".address").textContent,
      bottom: bottom(r),
    })),
    requests_shown: [...main.querySelectorAll("table.recent tr.request")].map((r) => ({
      n: r.querySelector(".n").textContent,
      bottom: bottom(r),
    })),
  };
})()"#;

/// README's screenshot, and the page measured at a projector's 1024×768: `lab --fault
/// --status`, once every answer has arrived, then 20! and 100! asked of its load balancer, in
/// a browser of [`WINDOW`]'s size. The page names the workers as the room does, `worker 1` to
/// `worker 3` in registry order with each address beside, shows the stopped one down and why,
/// and shows the three workers and the last ten requests (100!'s 158 digits among them) without
/// scrolling, down or sideways, in no type smaller than the body's [`READABLE_PX`]; the
/// screenshot shows the three rows. With `LAB_WRITE_SCREENSHOT` set it is written to
/// docs/status-page.png. Ctrl-C then stops the demo.
#[test]
fn the_demo_with_fault_in_a_browser() {
    let test = "the_demo_with_fault_in_a_browser";
    if let Err(why) = harness::chromium::program() {
        return say_skipped(test, &why);
    }
    let mut demo = start_demo(&["--fault", "--status"]);
    let folder = demo_folder(&mut demo);
    let listening = demo
        .wait_for("[load_balancer] Load Balancer listening on ", PATIENCE * 3)
        .unwrap();
    let balancer = harness::lab::port_at_end(&listening).unwrap();
    let page = demo_page(&mut demo);
    for n in [20, 100] {
        ask(balancer, n);
    }
    let registry = std::fs::read_to_string(folder.join("worker_ports.txt")).unwrap();
    let listed: Vec<String> = registry
        .lines()
        .map(|port| format!("127.0.0.1:{}", port.trim()))
        .collect();
    assert_eq!(listed.len(), 3, "{registry}");
    let mut browser = browser(test, &format!("http://127.0.0.1:{page}/")).unwrap();
    browser
        .wait_until("eleven requests and a worker down", READ_THE_PAGE, |p| {
            let rows = p.get("workers").items();
            let down = rows
                .iter()
                .filter(|w| w.get("state").text() == Some("down"));
            p.get("updates").count() >= Some(1)
                && p.get("requests").count() == Some(11)
                && rows.len() == 3
                && down.count() == 1
                && rows
                    .iter()
                    .any(|w| w.get("why").text() == Some("cannot connect: connection refused"))
        })
        .unwrap();
    let (png, base64) = browser.screenshot().unwrap();
    let cells = browser.evaluate(STATE_CELLS).unwrap();
    let measured = browser.evaluate(MEASURE_THE_PAGE).unwrap();
    check_measures(&measured, &listed);
    check_screenshot(&mut browser, &png, &base64, &cells);
    if std::env::var_os("LAB_WRITE_SCREENSHOT").is_some() {
        std::fs::write(top().join("docs/status-page.png"), &png).unwrap();
    }
    press_ctrl_c(demo, &folder);
}

/// Checks the page as [`MEASURE_THE_PAGE`] measured it with three workers and eleven requests,
/// against the registry's workers `listed` in order.
fn check_measures(m: &Json, listed: &[String]) {
    let number = |name: &str| m.get(name).number().unwrap();
    assert_eq!(
        (number("width"), number("height")),
        (f64::from(WINDOW.0), f64::from(WINDOW.1)),
        "{m}"
    );
    let height = number("height");
    assert!(
        number("page_width") <= number("width"),
        "the page is wider than the window: {m}"
    );
    assert!(number("body_px") >= READABLE_PX, "the body's type: {m}");
    assert!(
        number("smallest_px") >= number("body_px"),
        "type smaller than the body's: {m}"
    );
    let workers = m.get("workers").items();
    let names: Vec<(&str, &str)> = workers
        .iter()
        .map(|w| {
            (
                w.get("name").text().unwrap(),
                w.get("address").text().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, &str)> = listed
        .iter()
        .enumerate()
        .map(|(i, address)| (format!("worker {}", i + 1), address.as_str()))
        .collect();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    assert_eq!(names, expected, "the workers as the room names them");
    let requests = m.get("requests_shown").items();
    let ns: Vec<&str> = requests
        .iter()
        .map(|r| r.get("n").text().unwrap())
        .collect();
    assert_eq!(ns.len(), 10, "the last ten requests: {m}");
    assert_eq!(ns[..2], ["100", "20"], "newest first: {m}");
    for row in workers.iter().chain(requests) {
        let bottom = row.get("bottom").number().unwrap();
        assert!(bottom <= height, "below the window (scrolled to): {row}");
    }
}
