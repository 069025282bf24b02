// voicepipe pages, live: one websocket (/ws, with the session cookie) per page that asks for it.
//
// <body data-live="job worker notification"> names the topics on which the page's regions are
// refreshed ("worker": a worker came or went; "heartbeat" too: every worker's every beat, for the
// page that shows them); data-live-job narrows job events to one job. A region is an element with an id and
// data-region: a refresh fetches the page's own URL once and swaps each region for its fresh copy
// (the server renders the page the same way it did the first time: one way to draw it). Without
// any refresh, progress bars ([data-job-progress], and [data-job-progress-info] for the text a task
// reports with its progress) and status badges ([data-job-status]) follow their job's events at
// once.
//
// While the socket is down a banner says so, the regions are refreshed every 10 s (polling), and
// the socket reconnects with backoff, asking for the notifications it missed (`since`).
// A region with data-hold is not swapped while the reader points at it, has the keyboard focus in
// it or has ticked a checkbox in it: a list does not jump under the reader's hand.
"use strict";

(() => {
  const REFRESH_GAP_MS = 750; // at most one refresh per gap: within 1 s of an event
  const POLL_MS = 10_000; // while the socket is down
  const BANNER_DELAY_MS = 1_500; // a socket back within this never shows the banner
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 10_000;
  const HOLD_CHECK_MS = 400;
  // Events are published as they happen, and PostgreSQL has them a moment later (the recorder
  // writes in batches): one more refresh this long after the last event shows what it recorded.
  const SETTLE_MS = 1_200;
  const STATUS_OF_EVENT = {
    started: "started", retry: "retry", success: "success", failure: "failure", cancelled: "cancelled",
  };

  const body = document.body;
  const topics = (body.dataset.live || "").split(/\s+/).filter(Boolean);
  // what the socket subscribes to: heartbeats are the feed's worker messages
  const feedTopics = [...new Set(topics.map((t) => (t === "heartbeat" ? "worker" : t)))];
  const liveJob = body.dataset.liveJob || null;
  const banner = document.getElementById("live-banner");
  const bannerText = document.getElementById("live-banner-text");
  const handlers = { job: [], worker: [], notification: [] };

  let socket = null;
  let retryMs = RETRY_MIN_MS;
  let lastNotificationId = null; // to reconnect with ?since=
  let signedOut = false;
  let pollTimer = null;
  let bannerTimer = null;
  let refreshTimer = null;
  let holdTimer = null;
  let refreshing = false;
  let refreshWanted = false;
  let lastRefreshAt = 0;
  let settleTimer = null;
  let leaving = false; // a form was sent or the page is being left: no more refreshes

  // -- regions ---------------------------------------------------------------------------------

  function regions() {
    return Array.from(document.querySelectorAll("[data-region][id]"));
  }

  function isHeld(region) {
    if (!region.hasAttribute("data-hold")) return false;
    // keyboard focus only: a box ticked with the mouse keeps the focus after it is unticked
    const focus = document.activeElement;
    const keyboard = focus !== null && focus !== body && focus.matches(":focus-visible");
    return region.matches(":hover")
      || (keyboard && region.contains(focus))
      || region.querySelector('input[type="checkbox"]:checked') !== null;
  }

  function refresh() {
    if (signedOut || leaving || regions().length === 0) return;
    refreshWanted = true;
    if (refreshing || refreshTimer !== null) return;
    const waitMs = Math.max(0, lastRefreshAt + REFRESH_GAP_MS - Date.now());
    refreshTimer = setTimeout(runRefresh, waitMs);
  }

  async function runRefresh() {
    refreshTimer = null;
    refreshWanted = false;
    refreshing = true;
    lastRefreshAt = Date.now();
    try {
      const response = await fetch(location.href, {
        headers: { "X-Voicepipe-Live": "1" }, credentials: "same-origin", cache: "no-store",
      });
      if (response.redirected && new URL(response.url).pathname === "/login") {
        endOfSession();
        return;
      }
      if (response.ok) swap(new DOMParser().parseFromString(await response.text(), "text/html"));
    } catch (error) {
      // the server is away: the next poll or event tries again
    } finally {
      refreshing = false;
      if (refreshWanted) refresh();
    }
  }

  function swap(fresh) {
    let held = false;
    for (const region of regions()) {
      const copy = fresh.getElementById(region.id);
      if (copy === null) continue;
      if (isHeld(region)) {
        held = true;
        region.dataset.updatesWaiting = "";
        continue;
      }
      region.replaceWith(document.adoptNode(copy));
    }
    if (held && holdTimer === null) holdTimer = setInterval(releaseHeld, HOLD_CHECK_MS);
  }

  function releaseHeld() {
    const waiting = regions().filter((r) => "updatesWaiting" in r.dataset);
    if (waiting.some(isHeld)) return;
    clearInterval(holdTimer);
    holdTimer = null;
    if (waiting.length) refresh();
  }

  // -- what events change without a refresh ----------------------------------------------------

  function byData(name, value) {
    return document.querySelectorAll(`[${name}="${CSS.escape(value)}"]`);
  }

  function statusOf(event) {
    if (event.event === "queued") {
      return event.eta && event.eta * 1000 > Date.now() ? "scheduled" : "pending";
    }
    return STATUS_OF_EVENT[event.event] || null;
  }

  function showProgress(element, progress) {
    const bar = element.querySelector("progress");
    const text = element.querySelector(".progress-text");
    const total = Number(progress.total) || 0;
    const current = Number(progress.current) || 0;
    if (bar && total > 0) {
      bar.max = total;
      bar.value = Math.min(current, total);
    }
    if (text) text.textContent = total > 0 ? `${current} / ${total}` : "—";
  }

  // what a task said with its progress ({"stage": "exporting"}), as job.html writes it
  function infoText(info) {
    if (info == null) return "";
    if (typeof info !== "object") return String(info);
    return Object.entries(info).map(([key, value]) => `${key}: ${value}`).join(", ");
  }

  function showStatus(element, status) {
    element.textContent = status;
    for (const name of Array.from(element.classList)) {
      if (name.startsWith("status-")) element.classList.remove(name);
    }
    element.classList.add(`status-${status}`);
  }

  function onJob(event) {
    if (event.event === "progress" && event.progress) {
      for (const element of byData("data-job-progress", event.job_id)) showProgress(element, event.progress);
      for (const element of byData("data-job-progress-info", event.job_id)) {
        element.textContent = infoText(event.progress.info);
      }
    }
    const status = statusOf(event);
    if (status) {
      for (const element of byData("data-job-status", event.job_id)) showStatus(element, status);
    }
  }

  // -- the socket ------------------------------------------------------------------------------

  function handle(message) {
    if (message.type === "welcome") {
      up(message);
      return;
    }
    if (message.type === "subscribed") {
      // what happened between the page being drawn (or the socket lost) and now
      refresh();
      return;
    }
    if (message.type === "notification") lastNotificationId = message.id;
    if (message.type === "reset") refresh(); // notifications were missed: the page reads them
    if (!(message.type in handlers)) return;
    if (message.type === "job") onJob(message.event);
    for (const handler of handlers[message.type]) handler(message);
    if (changesRegions(message)) {
      refresh();
      clearTimeout(settleTimer);
      settleTimer = setTimeout(refresh, SETTLE_MS);
    }
  }

  function changesRegions(message) {
    if (!topics.includes(message.type)) return false;
    // a progress event moves only its bar (the timeline leaves progress out)
    if (message.type === "job") return message.event.event !== "progress";
    if (message.type === "worker") return message.event !== "heartbeat" || topics.includes("heartbeat");
    return true;
  }

  function up(welcome) {
    retryMs = RETRY_MIN_MS;
    clearTimeout(bannerTimer);
    bannerTimer = null;
    clearInterval(pollTimer);
    pollTimer = null;
    if (banner) banner.hidden = true;
    const allowed = feedTopics.filter((t) => welcome.topics.includes(t));
    socket.send(JSON.stringify({ type: "subscribe", topics: allowed, job_id: liveJob }));
  }

  function down() {
    if (bannerTimer === null && banner && banner.hidden) {
      bannerTimer = setTimeout(() => {
        bannerTimer = null;
        if (bannerText) bannerText.textContent = "Live updates are paused: reconnecting… (the page refreshes every 10 s meanwhile)";
        banner.hidden = false;
      }, BANNER_DELAY_MS);
    }
    if (pollTimer === null) pollTimer = setInterval(refresh, POLL_MS);
  }

  function endOfSession() {
    signedOut = true;
    clearInterval(pollTimer);
    clearTimeout(bannerTimer);
    if (socket) socket.close();
    if (bannerText) bannerText.textContent = "Your session has ended: reload the page to sign in again.";
    if (banner) banner.hidden = false;
  }

  function connect() {
    const url = new URL("/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (lastNotificationId) url.searchParams.set("since", lastNotificationId);
    socket = new WebSocket(url);
    socket.addEventListener("message", (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch (error) {
        console.warn("live feed: a message could not be handled", error);
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (signedOut) return;
      if (event.code === 4401) {
        endOfSession();
        return;
      }
      down();
      const jitter = 0.8 + Math.random() * 0.4;
      setTimeout(connect, retryMs * jitter);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  }

  // the page is about to be replaced: a refresh now would be cut off on its way
  document.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) leaving = true;
  });
  window.addEventListener("pagehide", () => {
    leaving = true;
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) leaving = false; // back from the history cache
  });

  window.voicepipeLive = {
    /** fn(message) for every message of `topic` (job, worker, notification). */
    on(topic, fn) {
      handlers[topic].push(fn);
    },
    refresh,
  };

  if (topics.length) connect();
})();
