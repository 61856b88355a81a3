"""The Sanic app, grouped by who it serves: `api/` (programs), `console/` (staff),
`public/` (patients and the waiting room), `live/` (the websocket feeds of all three).
Modules at this level are shared by them: the app itself, what it needs from the
composition root (`deps`), errors, security headers, path and input checks, the client's
address, the Origin check, sessions and auth, queue scope, rendering and the JSON shapes."""
