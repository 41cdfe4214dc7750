// Tidings service worker, served at /sw.js with the whole site as its scope.
//
// push: the server's JSON payload (Message.to_payload() in tidings/delivery/message.py) becomes
//   a notification: title, body, the app icon, tag = the notification id (a repeated push
//   replaces the one shown), and the URL to open on click.  A story's tag is its notification
//   id: the click opens /notifications/{id}/open, which records the click, marks it read and
//   redirects to the article.  Digests ("digest-12") and test pushes ("test") open the inbox.
// notificationclick: close it, focus a window already showing that URL, or open one there.
// pushsubscriptionchange: the push service renewed this browser's subscription (or dropped it:
//   then the worker subscribes again with the same server key).  The new one is registered at
//   once with the signed-in reader's session (its CSRF token from GET /api/v1/auth/session) and
//   the old endpoint removed, so pushes keep coming before the reader next opens a page (which
//   would register it too: static/push.js).  Signed out: nothing is sent; the next sign-in's
//   first page registers it.
"use strict";

var ICON = "/static/icons/icon-192.png";
var BADGE = "/static/icons/badge-96.png";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function readPayload(data) {
  if (!data) return {};
  try {
    var payload = data.json();
    return payload && typeof payload === "object" ? payload : {};
  } catch (error) {
    return { body: data.text() };
  }
}

function openUrl(tag) {
  return /^[0-9]+$/.test(tag) ? "/notifications/" + tag + "/open" : "/inbox";
}

self.addEventListener("push", function (event) {
  var payload = readPayload(event.data);
  var tag = payload.tag === undefined || payload.tag === null ? "" : String(payload.tag);
  var options = {
    body: payload.body || "",
    icon: ICON,
    badge: BADGE,
    data: { url: openUrl(tag), kind: payload.kind || "quick" },
  };
  if (tag) options.tag = tag;
  event.waitUntil(self.registration.showNotification(payload.title || "Tidings", options));
});

function sameOrigin(url) {
  var target = new URL(url || "/inbox", self.location.origin);
  return target.origin === self.location.origin ? target.href : new URL("/inbox", self.location.origin).href;
}

// A window is opened only for a real click on the notification; without one (the browser
// refused: no user gesture reached the worker) a Tidings tab this worker controls goes there.
function openWindow(url) {
  var opening = self.clients.openWindow ? self.clients.openWindow(url) : Promise.reject(new Error("no openWindow"));
  return opening.catch(function (error) {
    return self.clients.matchAll({ type: "window" }).then(function (controlled) {
      if (!controlled.length) throw error;
      return controlled[0].navigate(url);
    });
  });
}

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = sameOrigin(event.notification.data && event.notification.data.url);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === url && "focus" in windows[i]) {
          return windows[i].focus().catch(function () { return windows[i]; });
        }
      }
      return openWindow(url);
    })
  );
});

function resubscribe(oldSubscription) {
  var key = oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey;
  if (!key) return Promise.resolve(null);
  return self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
}

function api(method, path, csrf, body) {
  var headers = { "Accept": "application/json", "X-CSRF-Token": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method: method,
    credentials: "same-origin",
    headers: headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// Resolves to true once the server has the renewed subscription.
function registerRenewed(oldSubscription, newSubscription) {
  var renewed = newSubscription ? Promise.resolve(newSubscription) : resubscribe(oldSubscription);
  return renewed.then(function (subscription) {
    if (!subscription) return false;
    return fetch("/api/v1/auth/session", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (session) {
        if (!session || !session.csrf_token) return false;
        return api("POST", "/api/v1/push-subscriptions", session.csrf_token, subscription.toJSON()).then(function (reply) {
          if (!reply.ok) return false;
          var old = oldSubscription && oldSubscription.endpoint;
          if (!old || old === subscription.endpoint) return true;
          var path = "/api/v1/push-subscriptions?endpoint=" + encodeURIComponent(old);
          return api("DELETE", path, session.csrf_token).then(function () { return true; });
        });
      });
  });
}

self.addEventListener("pushsubscriptionchange", function (event) {
  event.waitUntil(registerRenewed(event.oldSubscription, event.newSubscription).catch(function () { return false; }));
});

self.tidingsRegisterRenewed = registerRenewed; // what the event does, for the tests to call
