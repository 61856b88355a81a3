// The waiting-room display: repaints from the redacted display feed, and announces every
// call with a chime and the browser's speech synthesis. The server painted the first state;
// this keeps it right. Everything shown is a ticket number or a counter: the feed has nothing else.
"use strict";
(function () {
  const root = document.getElementById("display");
  if (!root) return;
  const text = JSON.parse(document.getElementById("display-text").textContent);
  const code = root.dataset.code;
  const speechLang = root.dataset.speechLang || "en";
  const timezone = root.dataset.timezone || undefined;
  const $ = (id) => document.getElementById(id);
  const calledList = $("called"), nextList = $("next"), announcement = $("announcement");

  const MAX_CALLED = 5;          // the newest call and four before it fit a TV
  const FLASH_MS = 8000;         // how long a called number keeps flashing
  const RECENT_MS = 60000;       // a number announced this recently is not announced again
  const MAX_PENDING = 4;         // announcements queued while one plays; older ones are dropped
  const POLL_MS = 5000;          // polling while the websocket is down, if it stays down
  const SOUND_KEY = "nextup.display.sound";

  let state = JSON.parse($("display-state").textContent);
  const flashUntil = new Map();  // number -> time its flash ends
  const announcedAt = new Map(); // number -> time it was last announced

  // -- painting ---------------------------------------------------------------------------

  function calledItem(entry) {
    const li = document.createElement("li");
    li.className = "called-item";
    li.dataset.number = entry.number;
    li.innerHTML =
      '<span class="num"></span><span class="arrow" aria-hidden="true">→</span>' +
      '<span class="ctr"><span class="ctr-label"></span> <span class="ctr-name"></span></span>';
    li.querySelector(".num").textContent = entry.number;
    li.querySelector(".ctr-label").textContent = text.counter;
    return li;
  }

  // Items are kept by number and only moved when they must, so a flashing number keeps
  // flashing through the repaints that follow its call.
  function paintCalled(called) {
    const shown = called.slice(0, MAX_CALLED);
    const existing = new Map();
    for (const li of calledList.children) existing.set(li.dataset.number, li);
    const now = Date.now();
    shown.forEach((entry, index) => {
      const li = existing.get(entry.number) || calledItem(entry);
      existing.delete(entry.number);
      li.querySelector(".ctr-name").textContent = entry.counter || "";
      li.classList.toggle("latest", index === 0);
      li.classList.toggle("status-serving", entry.status === "serving");
      li.classList.toggle("flash", (flashUntil.get(entry.number) || 0) > now);
      if (calledList.children[index] !== li) calledList.insertBefore(li, calledList.children[index] || null);
    });
    for (const li of existing.values()) li.remove();
    $("called-empty").hidden = shown.length > 0;
  }

  function paintNext(next, waiting) {
    const items = next.map((number) => {
      const li = document.createElement("li");
      li.textContent = number;
      return li;
    });
    nextList.replaceChildren(...items);
    $("next-empty").hidden = next.length > 0;
    const waitingLine = $("waiting");
    waitingLine.hidden = !waiting;
    waitingLine.textContent = text.waiting.replace("{n}", String(waiting));
  }

  function paintOpening(open, notice) {
    // Closed (by its hours or a pause): the notice says until when. A snapshot from a
    // server without opening hours has no `open`: treated as open.
    const banner = $("closed");
    banner.hidden = open !== false;
    banner.textContent = notice || "";
  }

  function paint() {
    paintCalled(state.called);
    paintNext(state.next, state.waiting);
    paintOpening(state.open, state.notice);
  }

  // -- the feed -------------------------------------------------------------------------------

  function onSnapshot(data) {
    const before = new Map(state.called.map((c) => [c.number, c.called_at]));
    state = data;
    paint();
    // Calls made while the screen was offline (or just before it connected) are announced
    // too: a patient in the room must still hear them. A few at most, the newest last.
    const missed = data.called
      .filter((c) => c.status === "called" && before.get(c.number) !== c.called_at)
      .filter((c) => !recentlyAnnounced(c.number))
      .slice(0, 3)
      .reverse();
    for (const c of missed) announce("called", c.number, c.counter);
  }

  function onCalled(data, kind) {
    if (kind === "called") {
      // Shown at once; the snapshot right behind this event confirms it.
      const rest = state.called.filter((c) => c.number !== data.number);
      state = {
        ...state,
        called: [{ number: data.number, counter: data.counter, status: "called", called_at: data.at }, ...rest],
        next: state.next.filter((n) => n !== data.number),
      };
      paint();
    }
    announce(kind, data.number, data.counter);
  }

  function onMessage(message) {
    if (message.type === "display") onSnapshot(message.data);
    else if (message.type === "ticket_called") onCalled(message.data, "called");
    else if (message.type === "ticket_recalled") onCalled(message.data, "recalled");
  }

  // -- announcing -------------------------------------------------------------------------------

  // "A-012" is read "A 12": the letter, then the number as people say it.
  function spoken(number) {
    return String(number).replace(/[-_]+/g, " ").replace(/\b0+(\d)/g, "$1").trim();
  }

  function phrase(kind, number, counter) {
    return (text[kind] || text.called).replace("{number}", spoken(number)).replace("{counter}", counter || "");
  }

  function recentlyAnnounced(number) {
    return Date.now() - (announcedAt.get(number) || 0) < RECENT_MS;
  }

  function flash(number) {
    flashUntil.set(number, Date.now() + FLASH_MS);
    const li = calledList.querySelector(`li[data-number="${CSS.escape(number)}"]`);
    if (li) {
      li.classList.remove("flash");
      void li.offsetWidth; // restarts the animation on a recall
      li.classList.add("flash");
    }
    setTimeout(() => {
      if ((flashUntil.get(number) || 0) > Date.now()) return;
      flashUntil.delete(number);
      const item = calledList.querySelector(`li[data-number="${CSS.escape(number)}"]`);
      if (item) item.classList.remove("flash");
    }, FLASH_MS + 50);
  }

  function announce(kind, number, counter) {
    const sentence = phrase(kind, number, counter);
    announcedAt.set(number, Date.now());
    announcement.textContent = sentence;
    announcement.dataset.count = String(Number(announcement.dataset.count || 0) + 1);
    flash(number);
    if (sound.on) sound.say(sentence);
  }

  // -- sound --------------------------------------------------------------------------------
  // Browsers keep audio (and speech) off until the page gets a click or a key; the choice is
  // remembered, so a screen that restarts asks once, and then only for any click at all.

  const sound = {
    on: false,
    pending: [],
    playing: false,

    init() {
      const saved = localStorage.getItem(SOUND_KEY);
      $("sound-toggle").hidden = false;
      if (saved === null) $("sound-overlay").hidden = false;
      this.set(saved === "on", false);
      $("sound-on").addEventListener("click", () => this.choose(true));
      $("sound-off").addEventListener("click", () => this.choose(false));
      $("sound-toggle").addEventListener("click", () => this.choose(!this.on));
      const unlock = () => { if (this.on) this.unlock(); };
      document.addEventListener("pointerdown", unlock);
      document.addEventListener("keydown", unlock);
    },

    choose(on) {
      localStorage.setItem(SOUND_KEY, on ? "on" : "off");
      $("sound-overlay").hidden = true;
      this.set(on, true);
    },

    set(on, fromGesture) {
      this.on = on;
      const button = $("sound-toggle");
      button.setAttribute("aria-pressed", String(on));
      button.title = on ? text.sound_on : text.sound_off;
      button.querySelector(".sound-label").textContent = on ? text.sound_on : text.sound_off;
      if (on) this.unlock(fromGesture);
      else { this.pending = []; if (window.speechSynthesis) speechSynthesis.cancel(); }
    },

    unlock(fromGesture) {
      NextUpTones.ready();
      if (fromGesture && window.speechSynthesis) {
        // An empty utterance inside the click lets later ones speak without one.
        const primer = new SpeechSynthesisUtterance("");
        primer.volume = 0;
        speechSynthesis.speak(primer);
      }
    },

    say(sentence) {
      this.pending.push(sentence);
      while (this.pending.length > MAX_PENDING) this.pending.shift();
      if (!this.playing) this.playAll();
    },

    async playAll() {
      this.playing = true;
      try {
        while (this.pending.length) {
          const sentence = this.pending.shift();
          await this.chime();
          await this.speak(sentence);
        }
      } finally {
        this.playing = false;
      }
    },

    // Two falling tones, "ding-dong", before each announcement: people look up first.
    chime() {
      if (!NextUpTones.running()) return Promise.resolve();
      NextUpTones.play([[880, 0, 0.9], [660, 0.45, 0.9]]);
      return new Promise((resolve) => setTimeout(resolve, 1300));
    },

    speak(sentence) {
      if (!window.speechSynthesis || !window.SpeechSynthesisUtterance) return Promise.resolve();
      return new Promise((resolve) => {
        const utterance = new SpeechSynthesisUtterance(sentence);
        utterance.lang = speechLang;
        utterance.rate = 0.9;
        const base = speechLang.split("-")[0].toLowerCase();
        const voice = speechSynthesis.getVoices().find((v) => v.lang.toLowerCase().startsWith(base));
        if (voice) utterance.voice = voice;
        const done = () => { clearTimeout(timer); resolve(); };
        // Some systems have no voice and never end an utterance: don't wait forever.
        const timer = setTimeout(resolve, 8000);
        utterance.onend = done;
        utterance.onerror = done;
        speechSynthesis.speak(utterance);
      });
    },
  };

  // -- clock and connection ---------------------------------------------------------------

  let format;
  try {
    format = new Intl.DateTimeFormat(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: timezone });
  } catch (e) {
    format = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  function tick() { $("clock").textContent = format.format(new Date()); }

  let liveState = "connecting", downSince = 0, gone = false;
  function onState(next) {
    liveState = next;
    const up = next === "live";
    if (up) downSince = 0;
    else if (!downSince) downSince = Date.now();
    const dot = $("conn");
    dot.dataset.state = next;
    dot.title = up ? text.state_live : text.state_down;
    dot.setAttribute("aria-label", dot.title);
    // The first connection is not news; losing one is.
    $("offline").hidden = !gone && !(next === "offline" || next === "reconnecting");
  }

  function onError() {
    gone = true;
    $("offline").textContent = text.gone;
    $("offline").hidden = false;
  }

  // live.js reconnects within seconds; if websockets stay blocked (some proxies do), the
  // screen still moves by asking over plain HTTP.
  async function poll() {
    if (gone || liveState === "live" || !downSince || Date.now() - downSince < POLL_MS) return;
    try {
      const response = await fetch(`/display/${encodeURIComponent(code)}/state`, { cache: "no-store" });
      if (response.ok && liveState !== "live") onSnapshot(await response.json());
    } catch (e) { /* still down; the banner says so */ }
  }

  sound.init();
  tick();
  setInterval(tick, 1000);
  setInterval(poll, POLL_MS);
  window.NextUpLive("/ws/queues/" + encodeURIComponent(code), { onMessage, onState, onError });
})();
