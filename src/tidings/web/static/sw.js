// Tidings service worker, served at /sw.js with the whole site as its scope.
//
// push: the server's JSON payload (Message.to_payload() in tidings/delivery/message.py) becomes
//   a notification: title, body, the app icon, tag = the notification id (a repeated push
//   replaces the one shown), and the URL to open on click.  A story's tag is its notification
//   id: the click opens /notifications/{id}/open, which records the click, marks it read and
//   redirects to the article.  Digests ("digest-12") and test pushes ("test") open the inbox.
// notificationclick: close it, focus a window already showing that URL, or open one there.
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
