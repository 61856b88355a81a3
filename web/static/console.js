// The console's glue: every HTMX request carries the CSRF token; API calls are sent as JSON;
// an error from the server shows in a toast; a queue panel refreshes when its websocket says
// something happened, and polls while the websocket is down.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRF-Token"] = csrf;
  });

  htmx.defineExtension("json", {
    onEvent(name, event) {
      if (name === "htmx:configRequest") event.detail.headers["Content-Type"] = "application/json";
    },
    encodeParameters(xhr, parameters) {
      xhr.overrideMimeType("text/json");
      const body = {};
      for (const [key, value] of parameters.entries()) if (value !== "") body[key] = value;
      return JSON.stringify(body);
    },
  });

  const toast = document.getElementById("toast");
  let toastTimer = null;
  window.nextupToast = function (text, kind) {
    toast.textContent = text;
    toast.className = kind || "error";
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
  };
  // Only a staff member's action (a POST) speaks in a toast. A GET is the page refreshing
  // itself (a poll every 2 s while the websocket is down, a catch-up after an event): its
  // failure nobody caused, so it shows in the connection state, and clears when one gets through.
  const isAction = (event) => event.detail.requestConfig &&
    event.detail.requestConfig.verb !== "get";
  document.addEventListener("htmx:responseError", (event) => {
    if (!isAction(event)) { setReachable(false); return; }
    let text = "The request failed (" + event.detail.xhr.status + ")";
    try { text = JSON.parse(event.detail.xhr.responseText).error.message; } catch (e) { /* not JSON */ }
    window.nextupToast(text);
  });
  document.addEventListener("htmx:sendError", (event) => {
    if (!isAction(event)) { setReachable(false); return; }
    window.nextupToast("No connection to the server; your action was not sent. Try again.");
  });
  document.addEventListener("htmx:confirm", (event) => {
    const question = event.detail.elt.getAttribute("data-confirm");
    if (!question) return;
    event.preventDefault();
    if (window.confirm(question)) event.detail.issueRequest(true);
  });

  // After an action, refresh its queue at once rather than wait for the websocket's echo.
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful) setReachable(true);
    if (!event.detail.successful || event.detail.requestConfig.verb === "get") return;
    const section = event.detail.elt.closest("section.queue");
    const board = section && section.querySelector("[data-live-queue]");
    if (board) htmx.trigger(board, "refresh");
  });

  // A click elsewhere closes an open ticket menu (an open one holds back refreshes).
  document.addEventListener("click", (event) => {
    document.querySelectorAll("details.more[open]").forEach((menu) => {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  // Live queue panels: <section data-live-queue="CODE" hx-get=... hx-trigger="refresh, ...">.
  const stateLabel = { live: "● live", connecting: "connecting…", reconnecting: "reconnecting…",
                       offline: "○ offline – refreshing every 2 s", closed: "○ closed" };
  let reachable = true, feedState = null;
  function showState() {
    const label = document.querySelector(".live-state");
    if (!label || !feedState) return;
    const down = feedState !== "live" && !reachable;
    label.textContent = down ? "○ offline – cannot reach the server, retrying every 2 s"
                             : stateLabel[feedState] || feedState;
    label.dataset.state = feedState;
    label.dataset.reachable = down ? "no" : "yes";
  }
  function setReachable(ok) {
    if (ok === reachable) return;
    reachable = ok;
    showState();
  }
  function watch(panel) {
    const code = panel.dataset.liveQueue;
    let pending = null;
    const feed = window.NextUpLive("/ws/queues/" + encodeURIComponent(code), {
      onMessage() {
        // Events come in bursts (a call moves many tickets): one refresh per burst; and
        // none while a menu is open in the panel, which a refresh would close under the mouse.
        if (pending) return;
        const refresh = () => {
          if (window.nextupBusy(panel)) { pending = setTimeout(refresh, 400); return; }
          pending = null;
          htmx.trigger(panel, "refresh");
        };
        pending = setTimeout(refresh, 60);
        forecastAfterEvents(panel);
      },
      onState(state) {
        panel.dataset.live = state;
        feedState = state;
        if (state === "live") reachable = true;
        showState();
        if (state === "live") htmx.trigger(panel, "refresh"); // catch up on what was missed
      },
    });
    panel.nextupFeed = feed;
  }
  // The chart of the next two hours (under each panel) refreshes every 60 s by itself
  // (hx-trigger), and once after the board's events: when they have settled for a few
  // seconds and no sooner than 15 s after its last refresh, however many come.
  const FORECAST_SETTLE_MS = 3000, FORECAST_MIN_GAP_MS = 15000;
  function forecastAfterEvents(panel) {
    const section = panel.closest("section.queue");
    const forecast = section && section.querySelector("[data-forecast-queue]");
    if (!forecast || forecast.nextupPending) return;
    const since = Date.now() - (forecast.nextupAt || 0);
    forecast.nextupPending = setTimeout(() => {
      forecast.nextupPending = null;
      htmx.trigger(forecast, "forecast");
    }, Math.max(FORECAST_SETTLE_MS, FORECAST_MIN_GAP_MS - since));
  }
  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (elt.dataset && elt.dataset.forecastQueue) elt.nextupAt = Date.now();
  });
  window.nextupBusy = function (panel) {
    return !!panel.querySelector("details[open]") || panel.contains(document.activeElement) &&
      document.activeElement.tagName === "SELECT";
  };
  // Without its websocket a panel polls every 2 s (not while a menu is open in it). Polled
  // here rather than with an htmx trigger filter, which htmx would have to eval.
  const OFFLINE_POLL_MS = 2000;
  function pollWhileOffline(panel) {
    setInterval(() => {
      if (panel.dataset.live !== "live" && !window.nextupBusy(panel)) htmx.trigger(panel, "refresh");
    }, OFFLINE_POLL_MS);
  }
  document.querySelectorAll("[data-live-queue]").forEach((panel) => {
    watch(panel);
    pollWhileOffline(panel);
  });
})();
