// Rally's only script. It moves pipeline cards by drag and drop (below),
// empties the public form on Back (below), and when
// the server is too busy to take a form (503), htmx
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

  // Back (or Forward) to the public form: the browser refills it with what
  // was typed before, so at a kiosk or on a shared phone the next person
  // would see (and could send) the previous person's answers. Empty the
  // fields the person fills in; the hidden tokens stay as the server sent
  // them. A page kept whole in the back-forward cache still holds the
  // previous key: fetch the form afresh instead (a GET, never a resend).
  window.addEventListener("pageshow", function (event) {
    var form = document.getElementById("intake-form");
    if (!form || form.tagName !== "FORM") { return; }
    var entry = window.performance && performance.getEntriesByType
      ? performance.getEntriesByType("navigation")[0] : null;
    if (event.persisted) {
      window.location.replace(window.location.href);
      return;
    }
    if (!entry || entry.type !== "back_forward") { return; }
    var fields = form.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "hidden") { continue; }
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = field.defaultChecked;
      } else if (field.tagName === "SELECT") {
        for (var j = 0; j < field.options.length; j++) {
          field.options[j].selected = field.options[j].defaultSelected;
        }
      } else {
        field.value = field.defaultValue;
      }
    }
  });

  // The pipeline board: drag a card onto another column to move it. The
  // card's own form (a select and "Move", which works without JavaScript)
  // is set to the column's stage and submitted; htmx swaps the board.
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".card-item[data-id]");
    if (!card) { return; }
    dragged = card;
    card.classList.add("dragging");
    if (event.dataTransfer) {
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.getAttribute("data-id"));
    }
  });
  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    var marked = document.querySelectorAll(".column.drop");
    for (var i = 0; i < marked.length; i++) { marked[i].classList.remove("drop"); }
  });
  document.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".column[data-stage]");
    if (!column || !dragged) { return; }
    event.preventDefault();
    column.classList.add("drop");
  });
  document.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".column[data-stage]");
    if (column && !column.contains(event.relatedTarget)) { column.classList.remove("drop"); }
  });
  document.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".column[data-stage]");
    if (!column) { return; }
    event.preventDefault();
    column.classList.remove("drop");
    var id = (event.dataTransfer && event.dataTransfer.getData("text/plain")) ||
      (dragged && dragged.getAttribute("data-id"));
    var form = id && document.getElementById("move-" + id);
    if (!form) { return; }
    var select = form.querySelector('select[name="stage"]');
    var stage = column.getAttribute("data-stage");
    if (!select || select.value === stage) { return; }
    select.value = stage;
    // Shown in its new column at once; the server's board replaces it.
    var list = column.querySelector("ol.cards");
    var card = form.closest(".card-item");
    if (list && card) { list.insertBefore(card, list.firstChild); }
    if (form.requestSubmit) { form.requestSubmit(); } else { window.htmx.trigger(form, "submit"); }
  });

  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.matches && elt.matches("form[data-retry-after]")) {
      schedule(elt);
    }
  });

  // Sign-up: the browser's time zone (an IANA name such as Europe/Paris)
  // goes with the form in a hidden field, so times are shown in the
  // person's zone from the start; without JavaScript it stays empty and
  // the server uses UTC.
  document.addEventListener("DOMContentLoaded", function () {
    var fields = document.querySelectorAll("input[data-browser-zone]");
    if (!fields.length) { return; }
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    for (var i = 0; i < fields.length; i++) {
      if (!fields[i].value) { fields[i].value = zone; }
    }
  });

  // Presenter mode: a "Full screen" button, shown only where the browser
  // offers the Fullscreen API (without JavaScript, F11 does it).
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-fullscreen]");
    if (!buttons.length || !document.documentElement.requestFullscreen) { return; }
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function () {
        if (document.fullscreenElement) { document.exitFullscreen(); }
        else { document.documentElement.requestFullscreen().catch(function () {}); }
      });
    }
  });
})();
