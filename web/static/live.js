// NextUp's live feed: one websocket that reconnects by itself (never more than 3 s apart),
// answers the server's pings, and tells the page its state, so the page can say so and poll
// while it is down. Used by the console, the waiting-room display and the patient page.
"use strict";
window.NextUpLive = function (path, handlers) {
  const delaysMs = [250, 500, 1000, 2000, 3000];
  const silenceMs = 10000; // nothing heard for this long: the connection is dead
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  let ws = null, attempt = 0, lastHeard = 0, stopped = false;

  function setState(state) {
    document.documentElement.dataset.live = state;
    if (handlers.onState) handlers.onState(state);
  }
  function connect() {
    setState(attempt ? "reconnecting" : "connecting");
    const socket = new WebSocket(url);
    ws = socket;
    socket.onopen = () => { attempt = 0; lastHeard = Date.now(); setState("live"); };
    socket.onmessage = (event) => {
      lastHeard = Date.now();
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "ping") { socket.send('{"type":"pong"}'); return; }
      if (message.type === "pong") return;
      if (message.type === "error") { stopped = true; if (handlers.onError) handlers.onError(message.data); return; }
      handlers.onMessage(message);
    };
    socket.onclose = () => {
      if (ws !== socket) return;
      ws = null;
      if (stopped) { setState("closed"); return; }
      setState("offline");
      const delay = delaysMs[Math.min(attempt, delaysMs.length - 1)];
      attempt += 1;
      setTimeout(connect, delay);
    };
  }
  // A connection that went quiet (a sleeping laptop, a dropped Wi-Fi) can stay "open" in the
  // browser for minutes: ping it, and drop it when nothing comes back.
  setInterval(() => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastHeard > silenceMs) ws.close();
    else ws.send('{"type":"ping"}');
  }, 4000);
  connect();
  return {
    get live() { return !!ws && ws.readyState === WebSocket.OPEN; },
    close() { stopped = true; if (ws) ws.close(); },
  };
};
