// voicepipe Workers page: a worker the live feed reports down is marked so at once (its row then
// leaves with the next refresh of the table), and listed under "Gone while this page was open":
// the server cannot show a worker whose heartbeat has expired, so only the page remembers it.
// (A worker that went away before the page's socket listened is never reported down: its row just
// leaves with a refresh.)
"use strict";

(() => {
  const GONE_LISTED = 20;
  const gone = document.getElementById("workers-gone");
  const list = gone ? gone.querySelector(".gone-list") : null;
  if (!window.voicepipeLive || !list) return;

  function utcTime(date) {
    return date.toISOString().slice(11, 19);
  }

  function markDown(workerId) {
    for (const row of document.querySelectorAll(`tr[data-worker="${CSS.escape(workerId)}"]`)) {
      row.classList.add("row-down");
      const state = row.querySelector("[data-worker-state]");
      if (state) {
        state.textContent = "down";
        state.className = "worker-state worker-down";
      }
    }
  }

  function remember(workerId) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "mono";
    name.textContent = workerId;
    const state = document.createElement("span");
    state.className = "worker-state worker-down";
    state.textContent = "down";
    item.append(state, " ", name, ` at ${utcTime(new Date())} UTC`);
    list.prepend(item);
    while (list.children.length > GONE_LISTED) list.lastElementChild.remove();
    gone.hidden = false;
  }

  // Live workers beat every second, and each beat refreshes the table. A row left with no beat
  // (its worker stopped before this page's socket was listening, so no "down" came) would stay:
  // when rows are shown and the beats fall quiet, the table is read again once (while the socket
  // is down, live.js polls anyway).
  const QUIET_MS = 3_000; // three beats missed
  const CHECK_MS = 1_000;
  let lastMessageAt = Date.now();
  let readWhileQuiet = false;

  window.voicepipeLive.on("worker", (message) => {
    lastMessageAt = Date.now();
    readWhileQuiet = false;
    if (message.event !== "down") return;
    markDown(message.worker_id);
    remember(message.worker_id);
  });

  setInterval(() => {
    if (readWhileQuiet || Date.now() - lastMessageAt < QUIET_MS) return;
    if (document.querySelector("tr[data-worker]") === null) return;
    readWhileQuiet = true;
    window.voicepipeLive.refresh();
  }, CHECK_MS);
})();
