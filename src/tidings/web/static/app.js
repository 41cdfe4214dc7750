// Tidings pages: plain JS, no build step.
//
// The core every page uses (window.tidings):
//   tidings.api(method, path, body) -> Promise<data>  calls the REST API with the session cookie
//       and the CSRF token; a refusal rejects with an Error whose .status and .detail come from
//       the API's JSON error ({"error", "detail"}).
//   <form data-api="POST /api/v1/alerts" data-then="reload|/path|event">  is sent as JSON to the
//       API on submit (fields by name; checkboxes as booleans; data-type="int" on a field sends a
//       number; several checked boxes with one name send a list).  Errors show in the form's
//       [data-error] element (role=alert); success reloads, goes to data-then, or, with
//       data-then="event", fires a "tidings:done" event on the form with the reply in .detail.
//   <button data-api="POST /api/v1/notifications/read-all" data-confirm="#dialog-id">  the same
//       for one button; data-confirm names a <dialog> whose [value=confirm] button goes ahead.
//   tidings.toast(text)  a short message in the polite live region.
//   tidings.split("POST /api/v1/alerts") -> ["POST", "/api/v1/alerts"]  a data-api value.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function ApiError(status, detail) {
    var error = new Error(detail);
    error.status = status;
    error.detail = detail;
    return error;
  }

  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (reply) {
      if (reply.status === 204) return null;
      return reply.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!reply.ok) {
          var detail = data && data.detail !== undefined ? data.detail : reply.statusText;
          if (typeof detail !== "string") detail = describe(detail);
          throw ApiError(reply.status, detail);
        }
        return data;
      });
    });
  }

  function describe(detail) {
    // validation errors: a list of {field: "body.query", message} (web/errors.py)
    if (Array.isArray(detail)) {
      return detail.map(function (d) {
        var loc = d.loc || String(d.field || "").split(".");
        var where = loc.filter(function (p) { return p && p !== "body"; }).join(".");
        return (where ? where + ": " : "") + (d.message || d.msg);
      }).join("; ");
    }
    return JSON.stringify(detail);
  }

  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled || field.type === "submit" || field.type === "button") return;
      var value;
      if (field.type === "checkbox") {
        var same = form.querySelectorAll('input[type=checkbox][name="' + field.name + '"]');
        if (same.length > 1) {
          body[field.name] = body[field.name] || [];
          if (field.checked) body[field.name].push(typed(field, field.value));
          return;
        }
        value = field.checked;
      } else if (field.type === "radio") {
        if (!field.checked) return;
        value = typed(field, field.value);
      } else {
        value = typed(field, field.value);
        if (value === "" && field.dataset.empty === "null") value = null;
      }
      body[field.name] = value;
    });
    return body;
  }

  function typed(field, value) {
    if (field.dataset.type === "int") return value === "" ? null : parseInt(value, 10);
    return value;
  }

  function split(spec) {
    var space = spec.indexOf(" ");
    return [spec.slice(0, space), spec.slice(space + 1)];
  }

  function after(element, reply) {
    var then = element.dataset.then || "reload";
    if (then === "reload") window.location.reload();
    else if (then === "event") element.dispatchEvent(new CustomEvent("tidings:done", { detail: reply, bubbles: true }));
    else window.location.assign(then);
  }

  function showError(element, error) {
    var box = element.querySelector && element.querySelector("[data-error]");
    if (!box && element.form) box = element.form.querySelector("[data-error]");
    if (!box && element.dataset.errorIn) box = document.querySelector(element.dataset.errorIn);
    if (box) {
      box.textContent = error.detail || error.message;
      box.hidden = false;
    } else {
      toast(error.detail || error.message);
    }
  }

  function confirmed(element) {
    var selector = element.dataset.confirm;
    if (!selector) return Promise.resolve(true);
    var dialog = document.querySelector(selector);
    return new Promise(function (resolve) {
      // returnValue outlives a closing: an Escape after an earlier "confirm" would go ahead.
      dialog.returnValue = "";
      dialog.addEventListener("close", function onClose() {
        // A close event is dispatched after the closing; one from the previous opening can
        // arrive once the dialog is open again (Escape, then at once the button again).
        if (dialog.open) return;
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "confirm");
      });
      dialog.showModal();
    });
  }

  function toast(text) {
    var box = document.getElementById("toast");
    if (box) box.textContent = text;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.api) return;
    event.preventDefault();
    var parts = split(form.dataset.api);
    var box = form.querySelector("[data-error]");
    if (box) { box.textContent = ""; box.hidden = true; }
    confirmed(form).then(function (ok) {
      if (!ok) return;
      return api(parts[0], parts[1], formBody(form)).then(function (reply) { after(form, reply); });
    }).catch(function (error) { showError(form, error); });
  });

  // The browser's own checks (required, minlength…) stop a submit before the handler above
  // runs: an earlier refusal from the server must not stay on screen beside the browser's.
  document.addEventListener("invalid", function (event) {
    var form = event.target.form;
    var box = form && form.dataset.api ? form.querySelector("[data-error]") : null;
    if (box) { box.textContent = ""; box.hidden = true; }
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-api]") : null;
    if (!button || button.form && button.form.dataset.api) return;
    event.preventDefault();
    var parts = split(button.dataset.api);
    var body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    confirmed(button).then(function (ok) {
      if (!ok) return;
      return api(parts[0], parts[1], body).then(function (reply) { after(button, reply); });
    }).catch(function (error) { showError(button, error); });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", function () {
        api("POST", "/api/v1/auth/logout").then(function () { window.location.assign("/login"); });
      });
    }
  });

  window.tidings = { api: api, toast: toast, csrfToken: csrfToken, formBody: formBody, split: split };
})();
