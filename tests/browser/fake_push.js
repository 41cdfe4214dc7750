// Stands in for the browser's push service, and nothing else, in headless Chromium.
//
// Headless Chromium (background networking off, no Google push service) rejects every
// PushManager.subscribe() with "AbortError: Registration failed - permission denied", even
// with the notifications permission granted.  This replaces subscribe/getSubscription with
// what a push service would hand back: a subscription whose endpoint is the test's local push
// receiver and whose keys belong to a P-256 key pair the test made, so the server's real Web
// Push delivery (VAPID, aes128gcm) is received and decrypted there.  Everything else (the
// permission, the service worker, showNotification, getNotifications) is the real browser's.
//
// The test fills in CONFIG: {endpoint, keys: {p256dh, auth}, applicationServerKey}.
(function (config) {
  "use strict";
  if (typeof window === "undefined" || typeof PushManager === "undefined") return;
  var STORE = "tidings-test-push-subscription";

  function b64url(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromB64url(text) {
    var plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(plain.length);
    for (var i = 0; i < plain.length; i++) bytes[i] = plain.charCodeAt(i);
    return bytes;
  }

  function keyText(key) {
    if (key === undefined || key === null) return "";
    if (typeof key === "string") return key.replace(/=+$/, "");
    if (key instanceof ArrayBuffer) return b64url(new Uint8Array(key));
    if (ArrayBuffer.isView(key)) {
      return b64url(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
    }
    return "?";
  }

  function subscription() {
    var sub = Object.create(PushSubscription.prototype);
    var keys = { p256dh: fromB64url(config.keys.p256dh), auth: fromB64url(config.keys.auth) };
    Object.defineProperties(sub, {
      endpoint: { value: config.endpoint, enumerable: true },
      expirationTime: { value: null, enumerable: true },
      options: {
        value: { userVisibleOnly: true, applicationServerKey: fromB64url(config.applicationServerKey).buffer },
      },
      getKey: { value: function (name) { return keys[name] ? keys[name].slice().buffer : null; } },
      toJSON: {
        value: function () {
          return { endpoint: config.endpoint, expirationTime: null, keys: { p256dh: config.keys.p256dh, auth: config.keys.auth } };
        },
      },
      unsubscribe: {
        value: function () {
          var had = localStorage.getItem(STORE) !== null;
          localStorage.removeItem(STORE);
          window.__tidingsTestPush.unsubscribed += 1;
          return Promise.resolve(had);
        },
      },
    });
    return sub;
  }

  function fail(name, message) {
    return Promise.reject(new DOMException(message, name));
  }

  window.__tidingsTestPush = { subscribeCalls: [], unsubscribed: 0 };

  PushManager.prototype.subscribe = function (options) {
    options = options || {};
    window.__tidingsTestPush.subscribeCalls.push({
      userVisibleOnly: !!options.userVisibleOnly,
      applicationServerKey: keyText(options.applicationServerKey),
    });
    // What Chromium checks before it asks the push service.
    if (Notification.permission !== "granted") {
      return fail("NotAllowedError", "Registration failed - permission denied");
    }
    if (!options.userVisibleOnly) {
      return fail("NotAllowedError", "Chrome currently only supports the Push API for subscriptions that will result in user-visible messages.");
    }
    if (keyText(options.applicationServerKey) !== config.applicationServerKey) {
      return fail("InvalidAccessError", "applicationServerKey is not the server's VAPID public key");
    }
    localStorage.setItem(STORE, config.endpoint);
    return Promise.resolve(subscription());
  };

  PushManager.prototype.getSubscription = function () {
    return Promise.resolve(localStorage.getItem(STORE) === config.endpoint ? subscription() : null);
  };
})(CONFIG);
