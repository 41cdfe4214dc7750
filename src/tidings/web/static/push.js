// Tidings: allowing notifications, and installing the app.  On every signed-in page
// (included by _push_prompt.html, after app.js).
//
// The soft prompt (#push-prompt) shows only when push works in this browser, the browser has
// not been asked yet (Notification.permission === "default") and the reader has not said
// "Not now" (#push-later, remembered in localStorage).  "Allow notifications" (#push-allow):
//   Notification.requestPermission()
//   -> the service worker /sw.js (scope "/") and GET /api/v1/vapid-public-key
//   -> registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey})
//   -> POST /api/v1/push-subscriptions with subscription.toJSON().
// Denied: the prompt goes and #push-denied says how to allow notifications again (the inbox
// and e-mail keep working).
//
// Notification settings: #push-toggle (rendered hidden inside #push-settings) is shown when
// push works here; it turns this browser's push on (the same steps) or off
// (subscription.unsubscribe(), then DELETE /api/v1/push-subscriptions?endpoint=…).  A button
// says what a click does ("Turn on/off notifications in this browser"); a checkbox is checked
// when on.  #push-settings gets data-push="on|off".
// Each change fires "tidings:push" on document with detail {on: true|false}.
//
// Keeping it: the server forgets a subscription its browser has not registered for 60 days
// (tidings.delivery.outbox.expire_push_subscriptions), and push services renew subscriptions
// now and then.  So a signed-in page registers this browser's subscription again when the one
// last registered for this reader (localStorage, by <body data-reader>) is another endpoint or
// a day old: the server refreshes its keys and last-seen time and keeps its on/off as it was.
//
// #install ("Install Tidings") appears when the browser offers to install the app
// (beforeinstallprompt) and asks on click.
(function () {
  "use strict";

  var LATER = "tidings.push.later";
  var REGISTERED = "tidings.push.registered"; // {reader, endpoint, at}: the last registration
  var REGISTER_AGAIN_AFTER_MS = 24 * 60 * 60 * 1000;
  var TURN_ON = "Turn on notifications in this browser";
  var TURN_OFF = "Turn off notifications in this browser";

  function byId(id) {
    return document.getElementById(id);
  }

  function remember(key, value) {
    try { window.localStorage.setItem(key, value); } catch (error) { /* private mode */ }
  }

  function recall(key) {
    try { return window.localStorage.getItem(key); } catch (error) { return null; }
  }

  function pushWorks() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  // The VAPID public key arrives base64url-encoded; subscribe() wants its bytes.
  function base64UrlToBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  var registering = null;

  function registration() {
    if (!registering) {
      registering = navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
        return navigator.serviceWorker.ready;
      });
      registering.catch(function () { registering = null; });
    }
    return registering;
  }

  function askPermission() {
    return new Promise(function (resolve) {
      var answer = Notification.requestPermission(resolve); // older Safari: a callback
      if (answer && answer.then) answer.then(resolve);
    });
  }

  function serverKey() {
    return window.tidings.api("GET", "/api/v1/vapid-public-key").then(function (reply) {
      return base64UrlToBytes(reply.public_key);
    });
  }

  function sameKey(subscription, key) {
    var had = subscription.options && subscription.options.applicationServerKey;
    if (!had) return false;
    var bytes = new Uint8Array(had);
    if (bytes.length !== key.length) return false;
    for (var i = 0; i < key.length; i++) if (bytes[i] !== key[i]) return false;
    return true;
  }

  function subscribe(reg, key) {
    return reg.pushManager.getSubscription().then(function (existing) {
      if (existing && sameKey(existing, key)) return existing;
      var stale = existing ? existing.unsubscribe() : Promise.resolve(true);
      return stale.then(function () {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      });
    });
  }

  // Permission, subscription, then the server: resolves to the permission ("granted" once the
  // server has this browser's subscription, or "denied", or "default" if the question was
  // dismissed).
  function enable() {
    return askPermission().then(function (permission) {
      if (permission !== "granted") return permission;
      return Promise.all([registration(), serverKey()]).then(function (both) {
        return subscribe(both[0], both[1]);
      }).then(register).then(function () {
        announce(true);
        return "granted";
      });
    });
  }

  function register(subscription) {
    return window.tidings.api("POST", "/api/v1/push-subscriptions", subscription.toJSON()).then(function () {
      remember(REGISTERED, JSON.stringify({ reader: reader(), endpoint: subscription.endpoint, at: Date.now() }));
    });
  }

  function reader() {
    return document.body.getAttribute("data-reader") || "";
  }

  function lastRegistered() {
    try { return JSON.parse(recall(REGISTERED) || "null") || {}; } catch (error) { return {}; }
  }

  // This browser's push subscription (null when none).
  function currentSubscription() {
    return registration().then(function (reg) {
      return reg.pushManager.getSubscription();
    });
  }

  // The same, null too while notifications are not allowed.
  function grantedSubscription() {
    return Notification.permission === "granted" ? currentSubscription() : Promise.resolve(null);
  }

  // Resolves to true when it registered the subscription again (see "Keeping it" above).
  function keepRegistered() {
    return grantedSubscription().then(function (subscription) {
      if (!subscription) return false;
      var last = lastRegistered();
      var fresh = last.reader === reader() && last.endpoint === subscription.endpoint &&
        Date.now() - last.at < REGISTER_AGAIN_AFTER_MS;
      if (fresh) return false;
      return register(subscription).then(function () { return true; });
    });
  }

  function disable() {
    return currentSubscription().then(function (subscription) {
      if (!subscription) return null;
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        var path = "/api/v1/push-subscriptions?endpoint=" + encodeURIComponent(endpoint);
        return window.tidings.api("DELETE", path).catch(function (error) {
          if (error.status !== 404) throw error; // already forgotten: fine
        });
      });
    }).then(function () {
      announce(false);
    });
  }

  function isOn() {
    return grantedSubscription().then(Boolean);
  }

  function announce(on) {
    document.dispatchEvent(new CustomEvent("tidings:push", { detail: { on: on } }));
  }

  function showDenied() {
    var prompt = byId("push-prompt");
    var denied = byId("push-denied");
    if (prompt) prompt.hidden = true;
    if (denied) denied.hidden = false;
  }

  function failed(error) {
    window.tidings.toast("Notifications could not be turned on: " + (error.detail || error.message));
  }

  function setUpPrompt() {
    var prompt = byId("push-prompt");
    var allow = byId("push-allow");
    var later = byId("push-later");
    if (!prompt || !allow || !later) return;
    if (Notification.permission === "default" && recall(LATER) !== "yes") prompt.hidden = false;
    allow.addEventListener("click", function () {
      allow.disabled = true;
      enable().then(function (permission) {
        if (permission === "granted") {
          prompt.hidden = true;
          window.tidings.toast("Notifications are on for this browser.");
        } else if (permission === "denied") {
          showDenied();
        } // "default": the browser's question was dismissed; the prompt stays
      }).catch(failed).then(function () {
        allow.disabled = false;
      });
    });
    later.addEventListener("click", function () {
      remember(LATER, "yes");
      prompt.hidden = true;
    });
  }

  function setUpToggle() {
    var box = byId("push-settings");
    var toggle = byId("push-toggle");
    if (!box || !toggle) return;
    var checkbox = toggle.type === "checkbox";
    function show(on) {
      box.setAttribute("data-push", on ? "on" : "off");
      if (checkbox) toggle.checked = on;
      else toggle.textContent = on ? TURN_OFF : TURN_ON;
    }
    function refresh() {
      return isOn().then(show, function () { show(false); });
    }
    if (Notification.permission === "denied") showDenied();
    refresh().then(function () {
      box.hidden = false;
      toggle.hidden = false;
    });
    document.addEventListener("tidings:push", function (event) {
      show(event.detail.on);
    });
    toggle.addEventListener(checkbox ? "change" : "click", function () {
      var wanted = checkbox ? toggle.checked : box.getAttribute("data-push") !== "on";
      toggle.disabled = true;
      var change = wanted ? enable() : disable();
      change.then(function (permission) {
        if (permission === "denied") showDenied();
      }).catch(failed).then(refresh).then(function () {
        toggle.disabled = false;
        toggle.focus();
      });
    });
  }

  function setUpInstall() {
    var button = byId("install");
    if (!button) return;
    var offer = null;
    window.addEventListener("beforeinstallprompt", function (event) {
      event.preventDefault(); // our own button asks instead of the browser's mini-bar
      offer = event;
      button.hidden = false;
    });
    button.addEventListener("click", function () {
      if (!offer) return;
      var asking = offer;
      offer = null;
      button.hidden = true;
      asking.prompt();
    });
    window.addEventListener("appinstalled", function () {
      offer = null;
      button.hidden = true;
    });
  }

  setUpInstall();
  if ("serviceWorker" in navigator) {
    registration().catch(function () { /* no service worker (an insecure origin): no push */ });
  }
  var kept = Promise.resolve(false);
  if (pushWorks()) {
    setUpPrompt();
    setUpToggle();
    kept = keepRegistered().catch(function () { return false; }); // tried again on the next page
  }

  window.tidings = window.tidings || {};
  window.tidings.push = { enable: enable, disable: disable, isOn: isOn, kept: kept };
})();
