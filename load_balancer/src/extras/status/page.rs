//! The status page: HTML drawn from a [`Snapshot`], with its style and script inline, and
//! nothing from elsewhere (no file, font or script from another server: a lab room may have no
//! internet). Its script (`page.js`) fetches `/status.json` every second and draws the same
//! markup from it, so the page follows the lab without reloading; with JavaScript off, the page
//! drawn here reloads itself instead (a `<meta http-equiv="refresh">` inside `<noscript>`, so
//! that it never reloads a page whose script is already drawing it).
//!
//! The markup here and in `page.js` is the same, element for element: a change to one is a
//! change to both (`tests/status.rs` reads both against `/status.json`).

use std::fmt::Write;
use std::time::Duration;

use crate::armour::health::State;
use crate::extras::status::board::{RECENT, Request};
use crate::extras::status::snapshot::{
    Snapshot, Worker, outcome, request_state, state_name, why_text,
};

/// The page's style: large type for a projector, a colour and a word for each state.
const STYLE: &str = include_str!("page.css");

/// The page's script: draws the page again from `/status.json` every second.
const SCRIPT: &str = include_str!("page.js");

/// How often the page reloads itself when JavaScript is off: often enough to follow a lab,
/// seldom enough that a projector does not flicker.
pub const REFRESH_SECONDS: u32 = 2;

/// The whole page, as `GET /` serves it.
pub fn render(snapshot: &Snapshot) -> String {
    let balancer = esc(&snapshot.balancer);
    let body = body(snapshot);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Load balancer {balancer}</title>\n\
         <noscript><meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\"></noscript>\n\
         <style>\n{STYLE}</style>\n</head>\n<body>\n<main id=\"status\">{body}</main>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    )
}

/// Everything inside `<main>`: what `page.js`'s `draw` makes from `/status.json`.
fn body(s: &Snapshot) -> String {
    let mut html = String::new();
    let clock = clock(s.unix_ms(s.taken));
    let _ = write!(
        html,
        "<header><h1>Load balancer <span class=\"addr\">{}</span></h1>\
         <p class=\"clock\">as of {clock} UTC; reloads every {REFRESH_SECONDS} s</p></header>",
        esc(&s.balancer)
    );
    let next = s.next.as_ref().map_or("none".to_string(), |w| s.name_of(w));
    let _ = write!(
        html,
        "<p class=\"summary\"><span>strategy <b class=\"strategy\">{}</b></span> \
         <span>next turn <b class=\"turn\">{}</b> to <b class=\"next\">{}</b></span> \
         <span><b class=\"rate\">{:.1}</b> requests/s</span> \
         <span><b class=\"requests\">{}</b> requests</span></p>",
        s.strategy,
        s.turn,
        esc(&next),
        s.board.per_second,
        s.board.requests
    );
    html.push_str(&picture(s));
    html.push_str(&workers(s));
    html.push_str(&recent(s));
    html
}

/// The small picture: client → load balancer → each worker, its box in its state's colour,
/// and the one whose turn comes next framed.
fn picture(s: &Snapshot) -> String {
    let boxes: String = s
        .workers
        .iter()
        .map(|w| {
            let state = state_name(w.view.state);
            let next = if s.next.as_ref() == Some(&w.address) {
                " next"
            } else {
                ""
            };
            format!(
                "<div class=\"box worker {state}{next}\" data-address=\"{}\">\
                 <b>worker {}</b> {state}</div>",
                esc(&w.address.host_port()),
                w.number
            )
        })
        .collect();
    format!(
        "<div class=\"picture\"><div class=\"box client\">client</div>\
         <div class=\"arrow\">→</div><div class=\"box balancer\">load balancer</div>\
         <div class=\"arrow\">→</div><div class=\"boxes\">{}</div></div>",
        if boxes.is_empty() {
            "<div class=\"box none\">no worker in the registry</div>".to_string()
        } else {
            boxes
        }
    )
}

/// The table of workers, one row each, in registry order: `worker 1` first.
fn workers(s: &Snapshot) -> String {
    let rows: String = s.workers.iter().map(|w| worker_row(s, w)).collect();
    format!(
        "<table class=\"workers\"><thead><tr><th>worker</th><th>address</th><th>state</th>\
         <th>answered</th><th>failures</th><th>in progress</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    )
}

/// One worker's row: its numbers on one line, and on a line beneath, when its state has
/// changed, since when, why and when it is checked next.
fn worker_row(s: &Snapshot, w: &Worker) -> String {
    let view = &w.view;
    let state = state_name(view.state);
    let (since, why) = match &view.changed {
        None => (String::new(), String::new()),
        Some((at, why)) => (
            format!(
                "{state} since {} UTC ({} ago): ",
                clock(s.unix_ms(*at)),
                seconds(s.ago(*at))
            ),
            why_text(why),
        ),
    };
    let next_check = match view.state {
        State::Up => String::new(),
        _ if view.checking => "; checking now".to_string(),
        _ => {
            let due = view
                .next_check
                .map_or(Duration::ZERO, |at| at.saturating_duration_since(s.taken));
            format!("; next check in {}", seconds(due))
        }
    };
    let failed_checks = match view.failed_checks {
        0 => String::new(),
        1 => " (1 check failed)".to_string(),
        n => format!(" ({n} checks failed)"),
    };
    // Nothing to say beneath a worker that has been as it is since the start.
    let hidden = if view.changed.is_none() && next_check.is_empty() {
        " hidden"
    } else {
        ""
    };
    let at = esc(&w.address.host_port());
    format!(
        "<tr class=\"worker {state}\" data-address=\"{at}\"><td class=\"name\">worker {}</td>\
         <td class=\"address\">{at}</td><td class=\"state\">{state}</td>\
         <td class=\"answered\">{}</td><td class=\"failures\">{}</td>\
         <td class=\"in-progress\">{}</td><td class=\"change\"{hidden}><span class=\"since\">\
         {}</span><span class=\"why\">{}</span><span class=\"next-check\">{}{failed_checks}\
         </span></td></tr>",
        w.number,
        w.tally.answered,
        w.tally.failures,
        view.in_progress,
        esc(&since),
        esc(&why),
        esc(&next_check),
    )
}

/// The table of the latest requests, the newest first, each worker asked in its row.
fn recent(s: &Snapshot) -> String {
    let rows: String = s.board.recent.iter().map(|r| request_row(s, r)).collect();
    format!(
        "<h2>The last {RECENT} requests, newest first</h2><table class=\"recent\"><thead><tr>\
         <th>n</th><th>turn</th><th>answer</th><th>took</th><th>workers asked</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    )
}

/// One request's row.
fn request_row(s: &Snapshot, request: &Request) -> String {
    let attempts: String = request
        .attempts
        .iter()
        .map(|a| {
            let outcome = outcome(a);
            let took = a.result.as_ref().map(|(took, _)| millis(*took));
            let what = match (&a.result, took) {
                (Some((_, Err(failed))), Some(took)) => {
                    format!("✗ {} ({took})", failed.text)
                }
                (_, Some(took)) if a.relayed => format!("✓ in {took}"),
                (_, Some(took)) => format!("✓ in {took}, not needed"),
                _ => "… no answer yet".to_string(),
            };
            let hedge = if a.hedge { "also " } else { "" };
            format!(
                "<span class=\"attempt {outcome}\" data-address=\"{}\">{hedge}{} {}</span>",
                esc(&a.worker.host_port()),
                esc(&s.name_of(&a.worker)),
                esc(&what)
            )
        })
        .collect();
    let (answer, took) = match &request.end {
        Some(end) => (end.answer.as_str(), millis(end.took)),
        None => ("", "…".to_string()),
    };
    format!(
        "<tr class=\"request {}\"><td class=\"n\">{}</td><td class=\"turn\">{}</td>\
         <td class=\"answer\">{}</td><td class=\"took\">{took}</td>\
         <td class=\"attempts\">{attempts}</td></tr>",
        request_state(request),
        request.number,
        request.turn,
        esc(answer)
    )
}

/// A time of day, `14:03:05`, from milliseconds since 1970 (std knows no time zones, so UTC).
fn clock(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// `12.5 s`.
fn seconds(time: Duration) -> String {
    format!("{:.1} s", time.as_secs_f64())
}

/// `2.1 ms`, with a no-break space: a line that wraps never parts a number from its unit.
fn millis(time: Duration) -> String {
    format!("{:.1}\u{a0}ms", time.as_secs_f64() * 1000.0)
}

/// `text` safe inside HTML, as text or as an attribute's value.
fn esc(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => safe.push_str("&amp;"),
            '<' => safe.push_str("&lt;"),
            '>' => safe.push_str("&gt;"),
            '"' => safe.push_str("&quot;"),
            '\'' => safe.push_str("&#39;"),
            c => safe.push(c),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text from a worker or a request cannot become markup.
    #[test]
    fn escapes_what_it_shows() {
        assert_eq!(
            esc("<b onclick='x'>\"&\"</b>"),
            "&lt;b onclick=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/b&gt;"
        );
    }

    /// Times of day are UTC, from Unix time.
    #[test]
    fn tells_the_time() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(1_764_643_385_123), "02:43:05");
    }
}
