// Tones made in the page with WebAudio (nothing to download), shared by the patient page's
// pager beeps and the waiting-room display's chime.
(function () {
  "use strict";
  let context = null;

  // The page's one AudioContext, resumed. Browsers start it suspended until someone has
  // tapped the page, so pages call this from a tap too, to ready the sound for later.
  function ready() {
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) return null;
    try { context = context || new AudioContext(); } catch (e) { return null; }
    if (context.state === "suspended") context.resume().catch(() => {});
    return context;
  }

  // tones: [[hz, start_s, length_s], ...] from now; each fades in and out.
  function play(tones) {
    const ctx = ready();
    if (!ctx) return;
    const now = ctx.currentTime + 0.05;
    for (const [hz, startS, lengthS] of tones) {
      const at = now + startS;
      const tone = ctx.createOscillator(), volume = ctx.createGain();
      tone.type = "sine";
      tone.frequency.value = hz;
      volume.gain.setValueAtTime(0.0001, at);
      volume.gain.exponentialRampToValueAtTime(0.5, at + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, at + lengthS);
      tone.connect(volume).connect(ctx.destination);
      tone.start(at);
      tone.stop(at + lengthS + 0.05);
    }
  }

  window.NextUpTones = { ready, play, running: () => !!context && context.state === "running" };
})();
