// The status page's script: every second it fetches /status.json and draws the page from it,
// the same markup the load balancer draws (load_balancer/src/extras/status/page.rs), so the page
// follows the lab without reloading. It fetches nothing else, from here or from anywhere.
"use strict";
(() => {
  // How often the page is drawn again: the data is at most a tenth of a second old.
  const POLL_MS = 1000;
  const main = document.getElementById("status");
  let updates = 0;

  const esc = (text) =>
    String(text).replace(/[&<>"']/g, (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const seconds = (s) => `${s.toFixed(1)} s`;
  // A no-break space: a line that wraps never parts a number from its unit.
  const millis = (ms) => `${ms.toFixed(1)}\u00a0ms`;
  // The browser knows the time zone; the load balancer draws its own page in UTC.
  const clock = (ms) => new Date(ms).toLocaleTimeString();

  // What the page calls a worker: `worker N` by its place in the registry, or its address
  // when the registry no longer lists it.
  const nameOf = (s, address) => {
    const worker = s.workers.find((w) => w.address === address);
    return worker === undefined ? address : `worker ${worker.number}`;
  };

  function draw(s) {
    const next = s.next_worker === null ? "none" : nameOf(s, s.next_worker);
    return `<header><h1>Load balancer <span class="addr">${esc(s.load_balancer)}</span></h1>` +
      `<p class="clock">live, as of ${esc(clock(s.time))}</p></header>` +
      `<p class="summary"><span>strategy <b class="strategy">${esc(s.strategy)}</b></span> ` +
      `<span>next turn <b class="turn">${s.turn}</b> to <b class="next">${esc(next)}</b></span> ` +
      `<span><b class="rate">${s.requests_per_second.toFixed(1)}</b> requests/s</span> ` +
      `<span><b class="requests">${s.requests}</b> requests</span></p>` +
      picture(s) + workers(s) + recent(s);
  }

  function picture(s) {
    const boxes = s.workers.map((w) =>
      `<div class="box worker ${esc(w.state)}${w.address === s.next_worker ? " next" : ""}" ` +
      `data-address="${esc(w.address)}"><b>worker ${w.number}</b> ${esc(w.state)}</div>`).join("");
    return `<div class="picture"><div class="box client">client</div>` +
      `<div class="arrow">→</div><div class="box balancer">load balancer</div>` +
      `<div class="arrow">→</div><div class="boxes">` +
      (boxes || `<div class="box none">no worker in the registry</div>`) + `</div></div>`;
  }

  function workers(s) {
    return `<table class="workers"><thead><tr><th>worker</th><th>address</th><th>state</th>` +
      `<th>answered</th><th>failures</th><th>in progress</th></tr></thead>` +
      `<tbody>${s.workers.map(workerRow).join("")}</tbody></table>`;
  }

  function workerRow(w) {
    const since = w.since === null ? ""
      : `${w.state} since ${clock(w.since)} (${seconds(w.for_seconds)} ago): `;
    let nextCheck = "";
    if (w.state !== "up") {
      nextCheck = w.checking ? "; checking now" : `; next check in ${seconds(w.next_check_in_seconds)}`;
    }
    const failedChecks = w.failed_checks === 0 ? ""
      : w.failed_checks === 1 ? " (1 check failed)" : ` (${w.failed_checks} checks failed)`;
    // Nothing to say beneath a worker that has been as it is since the start.
    const hidden = w.since === null && nextCheck === "" ? " hidden" : "";
    const at = esc(w.address);
    return `<tr class="worker ${esc(w.state)}" data-address="${at}">` +
      `<td class="name">worker ${w.number}</td><td class="address">${at}</td>` +
      `<td class="state">${esc(w.state)}</td><td class="answered">${w.answered}</td>` +
      `<td class="failures">${w.failures}</td><td class="in-progress">${w.in_progress}</td>` +
      `<td class="change"${hidden}><span class="since">${esc(since)}</span>` +
      `<span class="why">${esc(w.why === null ? "" : w.why)}</span>` +
      `<span class="next-check">${esc(nextCheck)}${failedChecks}</span></td></tr>`;
  }

  function recent(s) {
    return `<h2>The last 10 requests, newest first</h2><table class="recent"><thead><tr>` +
      `<th>n</th><th>turn</th><th>answer</th><th>took</th><th>workers asked</th></tr></thead>` +
      `<tbody>${s.recent.map((r) => requestRow(s, r)).join("")}</tbody></table>`;
  }

  function requestRow(s, r) {
    const attempts = r.attempts.map((a) => {
      let what = "… no answer yet";
      if (a.outcome === "failed") what = `✗ ${a.detail} (${millis(a.took_ms)})`;
      else if (a.outcome === "relayed") what = `✓ in ${millis(a.took_ms)}`;
      else if (a.outcome === "dropped") what = `✓ in ${millis(a.took_ms)}, not needed`;
      return `<span class="attempt ${esc(a.outcome)}" data-address="${esc(a.worker)}">` +
        `${a.hedge ? "also " : ""}${esc(nameOf(s, a.worker))} ${esc(what)}</span>`;
    }).join("");
    const took = r.took_ms === null ? "…" : millis(r.took_ms);
    return `<tr class="request ${esc(r.state)}"><td class="n">${esc(r.n)}</td>` +
      `<td class="turn">${r.turn}</td><td class="answer">${esc(r.answer === null ? "" : r.answer)}</td>` +
      `<td class="took">${took}</td><td class="attempts">${attempts}</td></tr>`;
  }

  async function poll() {
    const started = performance.now();
    try {
      const response = await fetch("/status.json", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      main.innerHTML = draw(await response.json());
      updates += 1;
      // How many times the script has drawn the page: a page reloaded would start again at 1.
      main.dataset.updates = String(updates);
    } catch (error) {
      const line = main.querySelector(".clock");
      if (line) {
        line.textContent = `no answer from the load balancer (${error.message}); trying again`;
        line.classList.add("stale");
      }
    }
    setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
  }
  poll();
})();
