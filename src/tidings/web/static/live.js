// Tidings live updates, on every signed-in page (included by _push_prompt.html).
//
// One EventSource on GET /api/v1/events (the session cookie signs it in; the browser
// reconnects by itself, resuming after the last id; on /inbox with ?after= the newest id the
// page knew of, so nothing that arrives while it loads is missed):
//   event: notification  data: a NotificationOut plus "unread_count"
//       -> #unread-badge shows the count; on /inbox (first page) the notification is
//          prepended to #inbox as an li.notification made from #notification-template.
//   event: unread        data: {"unread_count": N}  (after read / read all / clear)
//       -> #unread-badge; at 0, the inbox's items lose their "unread" class.
(function () {
  "use strict";

  if (!document.body || document.body.getAttribute("data-signed-in") !== "yes") return;
  if (!("EventSource" in window)) return;

  function byId(id) {
    return document.getElementById(id);
  }

  function read(event) {
    try { return JSON.parse(event.data); } catch (error) { return null; }
  }

  function setBadge(count) {
    var badge = byId("unread-badge");
    if (badge && typeof count === "number") badge.textContent = String(count);
  }

  function alertNames() {
    var holder = byId("alert-names");
    try { return holder ? JSON.parse(holder.textContent) : {}; } catch (error) { return {}; }
  }

  // The API's timestamps are UTC without an offset; Date would read them as local time.
  function utc(stamp) {
    return /(Z|[+-][0-9]{2}:?[0-9]{2})$/i.test(stamp) ? stamp : stamp + "Z";
  }

  function timeText(stamp, zone) {
    var options = {
      day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", hour12: false,
    };
    try {
      return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone }, options)).format(new Date(stamp));
    } catch (error) {
      return new Date(stamp).toLocaleString();
    }
  }

  // snippet_html is escaped text with <mark> around the matched words; copy exactly that
  // (text and <mark>) from an inert <template>, whatever else it might hold.
  function copySnippet(target, html) {
    var inert = document.createElement("template");
    inert.innerHTML = html;
    (function walk(from) {
      Array.prototype.forEach.call(from.childNodes, function (node) {
        if (node.nodeType === Node.TEXT_NODE) {
          target.appendChild(document.createTextNode(node.textContent));
        } else if (node.nodeName === "MARK") {
          var mark = document.createElement("mark");
          mark.textContent = node.textContent;
          target.appendChild(mark);
        } else if (node.nodeType === Node.ELEMENT_NODE) {
          walk(node);
        }
      });
    })(inert.content);
  }

  function fill(item, selector, text) {
    var part = item.querySelector(selector);
    if (!part) return;
    if (text) part.textContent = text;
    else part.remove();
  }

  function notificationItem(template, n, zone) {
    var item = template.content.firstElementChild.cloneNode(true);
    item.setAttribute("data-id", String(n.id));
    if (n.read_at) {
      item.classList.remove("unread");
      fill(item, ".state", "");
    }
    var link = item.querySelector("a.open");
    link.setAttribute("href", "/notifications/" + n.id + "/open");
    link.textContent = n.title;
    fill(item, ".source", n.source);
    fill(item, ".byline", n.byline ? "by " + n.byline : "");
    var time = item.querySelector("time");
    var stamp = utc(n.published || n.created_at);
    time.setAttribute("datetime", stamp);
    time.textContent = timeText(stamp, zone);
    var snippet = item.querySelector(".snippet");
    if (n.snippet_html) copySnippet(snippet, n.snippet_html);
    else if (n.snippet) snippet.textContent = n.snippet;
    else snippet.remove();
    var names = alertNames();
    var matched = (n.alert_ids || []).map(function (id) { return names[String(id)]; }).filter(Boolean);
    fill(item, ".alert-name", matched.join(", "));
    if (!matched.length) fill(item, ".alerts", "");
    var others = n.also_reported_by || 0;
    fill(item, ".also", others ? "also reported by " + others + " source" + (others === 1 ? "" : "s") : "");
    return item;
  }

  function prepend(n) {
    var list = byId("inbox");
    var template = byId("notification-template");
    if (!list || !template || list.getAttribute("data-live") !== "yes") return;
    if (typeof n.id !== "number") return;
    if (list.querySelector('li.notification[data-id="' + n.id + '"]')) return;
    var zone = list.getAttribute("data-timezone") || "UTC";
    list.insertBefore(notificationItem(template, n, zone), list.firstChild);
    var empty = byId("inbox-empty");
    if (empty) empty.hidden = true;
  }

  function allRead() {
    var list = byId("inbox");
    if (!list) return;
    Array.prototype.forEach.call(list.querySelectorAll("li.notification.unread"), function (item) {
      item.classList.remove("unread");
      var state = item.querySelector(".state");
      if (state) state.remove();
    });
  }

  // On the inbox, ask also for what arrived since the page was made (?after=).
  function streamUrl() {
    var list = byId("inbox");
    var after = list && list.getAttribute("data-live") === "yes" ? list.getAttribute("data-after") : null;
    return /^[0-9]+$/.test(after || "") ? "/api/v1/events?after=" + after : "/api/v1/events";
  }

  var events = new EventSource(streamUrl());
  events.addEventListener("notification", function (event) {
    var n = read(event);
    if (!n) return;
    setBadge(n.unread_count);
    prepend(n);
    if (window.tidings && window.tidings.toast) window.tidings.toast("New: " + n.title);
  });
  events.addEventListener("unread", function (event) {
    var data = read(event);
    if (!data) return;
    setBadge(data.unread_count);
    if (data.unread_count === 0) allRead();
  });

  window.tidings = window.tidings || {};
  window.tidings.live = events;
})();
