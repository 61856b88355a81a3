// A patient's ticket page, kept live from /ws/tickets/{token}. The forms work without this
// script; it only keeps the number, state, position, wait and kind of visit up to date, and
// shows the buttons only while they can be used (waiting).
"use strict";
(function () {
  const root = document.getElementById("ticket");
  if (!root) return;
  const text = JSON.parse(document.getElementById("ticket-text").textContent);
  const token = root.dataset.token;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 5000; // polling while the websocket is down, if it stays down
  const baseTitle = root.dataset.title || document.title;

  // Called while the page is open: a beep, a buzz and the tab's title, for a patient who is
  // looking at another app or tab. Browsers let a page play sound only once someone has
  // tapped it, so any tap on the page readies the sound for later.
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, NextUpTones.ready, { once: true, passive: true });
  }
  const PAGER = [[880, 0, 0.3], [880, 0.45, 0.3], [880, 0.9, 0.3]]; // three short tones

  function alertCalled() {
    NextUpTones.play(PAGER);
    if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
  }

  // The same wording as the server's `wait_text` filter: "about 10–15 min", "about 15 min",
  // or in words within a minute (minutes rounded outwards, as the catalogue does).
  function waitText(lowS, highS) {
    const low = Math.floor(lowS / 60), high = Math.max(low, Math.ceil(highS / 60));
    if (high <= 1 && !low) return text.eta_soon;
    const range = (low !== high ? `${low}\u2013${high}` : `${high}`) + " " + text.min;
    return text.eta.replace("{range}", range);
  }

  // The kind of visit, wherever it was chosen (here, by Telegram or by SMS): the button
  // pressed and the line above the buttons say it.
  function paintKind(service) {
    const form = document.querySelector(".kind-form");
    if (!form || service === undefined) return;
    let shown = service;
    for (const button of form.querySelectorAll("button")) {
      const chosen = button.name === "kind" ? button.value === service : !service;
      button.setAttribute("aria-pressed", String(chosen));
      if (chosen && service) shown = button.textContent;
    }
    form.querySelector(".kind-help").textContent = service
      ? text.kind_now.replace("{kind}", shown) : text.kind_help;
  }

  function paint(t) {
    const before = root.dataset.status;
    root.dataset.status = t.status;
    root.className = root.className.replace(/\bstatus-\S+/g, "").trim() + " status-" + t.status;
    $("number").textContent = t.number;
    $("state").textContent = (text[t.status] || t.status).replace("{counter}", t.counter || "");
    const waiting = t.status === "waiting";
    $("wait").hidden = !waiting;
    $("actions").hidden = !waiting;
    if (waiting) {
      $("position").textContent = t.position === 1 ? text.next_up
        : t.position ? text.position.replace("{position}", t.position) : "";
      $("eta").textContent = t.eta_low_s != null && t.eta_high_s != null
        ? waitText(t.eta_low_s, t.eta_high_s) : text.eta_unknown;
      paintKind(t.service);
    }
    const called = t.status === "called";
    document.title = called ? text.your_turn.replace("{counter}", t.counter || "") : baseTitle;
    if (called && before !== "called") alertCalled(); // not on opening an already-called page
  }

  let liveState = "connecting", downSince = 0, gone = false;
  function onState(next) {
    liveState = next;
    if (next === "live") downSince = 0;
    else if (!downSince) downSince = Date.now();
    $("conn").dataset.state = next;
    $("offline").hidden = !(next === "offline" || next === "reconnecting");
  }

  async function poll() {
    if (gone || liveState === "live" || !downSince || Date.now() - downSince < POLL_MS) return;
    try {
      const response = await fetch(`/api/v1/public/tickets/${encodeURIComponent(token)}`, { cache: "no-store" });
      if (response.ok && liveState !== "live") paint(await response.json());
    } catch (e) { /* still down; the banner says so */ }
  }

  setInterval(poll, POLL_MS);
  window.NextUpLive("/ws/tickets/" + encodeURIComponent(token), {
    onMessage(message) { if (message.type === "ticket") paint(message.data); },
    onState,
    onError() { gone = true; },
  });
})();
