// The queue settings form: each weight slider shows its value as it moves, and a sentence
// says what the weights mean for two typical patients (the same arithmetic as
// core/domain/ordering.py: priority/3, time waited over the wait horizon, appointment due).
// The settings of a mode other than the chosen one are dimmed.
"use strict";
(function () {
  const form = document.querySelector("form.settings-form");
  if (!form) return;
  const box = form.querySelector(".weights");
  const shortFirst = form.querySelector(".short-first");
  const preview = document.getElementById("weights-preview");
  const horizonMin = parseFloat(box.dataset.horizonMin);
  const sliders = {};
  for (const name of ["priority", "wait_time", "appointment"]) {
    sliders[name] = document.getElementById("weight_" + name);
  }

  function weight(name) {
    const value = parseFloat(sliders[name].value);
    return Number.isFinite(value) ? value : 0;
  }

  function waited(minutes) {
    const rounded = Math.round(minutes);
    return rounded < 1 ? "under a minute" : rounded + " min";
  }

  // Who goes first: a newcomer scoring `score` or a routine walk-in who has waited? The
  // walk-in's score is wait_time × min(1, waited / horizon); a tie goes to the higher
  // priority (`winsTies`), else to whoever joined first, the walk-in.
  function against(score, wait, winsTies) {
    const always = winsTies ? score >= wait : score > wait;
    if (wait === 0 || always) return "every routine walk-in, however long they have waited";
    return "routine walk-ins who have waited less than " + waited((horizonMin * score) / wait);
  }

  function mode() {
    return form.querySelector("input[name=mode]:checked")?.value;
  }

  function describe() {
    const p = weight("priority"), w = weight("wait_time"), a = weight("appointment");
    if (mode() === "fifo") {
      return "In FIFO mode these weights are not used; they apply once the mode is dynamic.";
    }
    if (mode() === "short_first") {
      return "In short-visits-first mode these weights are not used; they apply once the mode is dynamic.";
    }
    if (p + w + a <= 0) return "At least one weight must be above 0.";
    const urgent = p === 0
      ? "priority only breaks ties: an urgent patient waits like everyone else."
      : "an urgent patient who has just arrived goes ahead of " + against((p * 2) / 3, w, true) + ".";
    const booked = a === 0
      ? "Appointments do not count."
      : "A patient whose appointment is due now goes ahead of " + against(a, w, false) + ".";
    return "With these weights, " + urgent + " " + booked;
  }

  function update() {
    for (const name of Object.keys(sliders)) {
      const output = document.getElementById("weight_" + name + "-value");
      if (output) output.value = weight(name).toFixed(2);
    }
    box.classList.toggle("inactive", mode() !== "dynamic");
    if (shortFirst) shortFirst.classList.toggle("inactive", mode() !== "short_first");
    preview.textContent = describe();
    preview.hidden = false;
  }

  // After a refused save, start where the first problem is.
  const invalid = form.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
