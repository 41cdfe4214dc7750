// Admin pages: what app.js's data-api forms do not already do.
//
// /admin/broadcast: once the send form's POST /api/v1/admin/broadcast succeeds (app.js fires
// "tidings:done" with the reply), say whom it reached in #broadcast-result (a polite live
// region) and disable Send, so one broadcast is not sent twice by accident.
(function () {
  "use strict";

  function count(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  document.addEventListener("tidings:done", function (event) {
    var form = event.target;
    if (!form || form.id !== "send-form") return;
    var reply = event.detail || {};
    var send = document.getElementById("broadcast-send");
    if (send) send.disabled = true;
    var result = document.getElementById("broadcast-result");
    if (!result) return;
    result.textContent = "Sent: " + count(reply.notified || 0, "reader", "readers") + " notified, " +
      count(reply.deliveries || 0, "channel delivery", "channel deliveries") + " queued.";
    result.hidden = false;
  });
})();
