// Rally's only script: when the server is too busy to take a form (503), htmx
// swaps the form back in with everything typed and a data-retry-after hint;
// this sends it again by itself, with exponential backoff and jitter, and
// shows that it is sending. The submission key stays the same, so a resend
// can never store the submission twice.
(function () {
  "use strict";
  var attempts = {};

  function schedule(form) {
    var keyInput = form.querySelector('input[name="_key"]');
    var key = keyInput ? keyInput.value : "";
    var attempt = (attempts[key] || 0) + 1;
    attempts[key] = attempt;
    var base = parseFloat(form.getAttribute("data-retry-after")) || 2;
    var delay = Math.min(30, base * Math.pow(2, attempt - 1)) * (0.5 + Math.random() / 2);
    var button = form.querySelector('button[type="submit"]');
    if (button) {
      button.disabled = true;
      button.textContent = "Sending…";
    }
    var alert = form.querySelector(".alert");
    if (alert) {
      alert.textContent = "Lots of people are sending right now. Sending yours again in a moment…";
      alert.classList.add("sending");
    }
    form.setAttribute("aria-busy", "true");
    window.setTimeout(function () {
      if (button) { button.disabled = false; }
      window.htmx.trigger(form, "submit");
    }, delay * 1000);
  }

  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.matches && elt.matches("form[data-retry-after]")) {
      schedule(elt);
    }
  });
})();
