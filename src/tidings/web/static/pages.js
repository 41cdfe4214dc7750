// Tidings reader pages: the alert form and its live preview, topic follow buttons, channel
// tests and per-alert channels, the time settings form, password-reset replies, and recording
// clicks on the home page's stories.  Plain JS on top of app.js (window.tidings); each part
// starts only when its elements are on the page.
(function () {
  "use strict";

  var PREVIEW_DELAY_MS = 300;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(box, text) {
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  function webLink(url) { return typeof url === "string" && /^https?:\/\//i.test(url); }

  function plural(count, word) { return count + " " + word + (count === 1 ? "" : "s"); }

  function goTo(then) {
    if (!then || then === "reload") window.location.reload();
    else window.location.assign(then);
  }

  function message(error) { return error.detail || error.message || "Something went wrong."; }

  // Ticked channel checkboxes as a list of ids; null when none is ticked (every channel);
  // undefined when the form has no channel choice at all (leave it as it is).
  function chosenChannels(form) {
    var boxes = $all('input[type=checkbox][name="channels"]', form);
    if (!boxes.length) return undefined;
    var ids = boxes.filter(function (box) { return box.checked; })
      .map(function (box) { return parseInt(box.value, 10); });
    return ids.length ? ids : null;
  }

  // -- the alert form (/alerts, /alerts/{id}) ---------------------------------------------

  function alertForm(form) {
    var query = form.elements.query;
    var queryError = $("#query-error");
    var formError = $("[data-error]", form);
    var preview = livePreview(query, queryError);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(queryError, "");
      show(formError, "");
      var spec = tidings.split(form.dataset.alertApi);
      var checked = $("input[name=mode]:checked", form);
      var body = { query: query.value, mode: checked ? checked.value : "quick" };
      var channels = chosenChannels(form);
      if (channels !== undefined) body.channels = channels;
      tidings.api(spec[0], spec[1], body).then(function () {
        goTo(form.dataset.then);
      }).catch(function (error) {
        if (error.status === 422) { show(queryError, message(error)); query.focus(); }
        else show(formError, message(error));
      });
    });
    query.addEventListener("input", preview.soon);
    if (query.value.trim()) preview.now();
  }

  function livePreview(query, queryError) {
    var list = $("#preview");
    var count = $("#preview-count");
    var idle = count ? count.textContent : "";
    var timer = null;
    var asked = 0;

    function now() {
      clearTimeout(timer);
      var text = query.value.trim();
      var mine = ++asked;
      if (!text) { show(queryError, ""); list.textContent = ""; count.textContent = idle; return; }
      count.textContent = "Looking…";
      tidings.api("POST", "/api/v1/alerts/preview", { query: text }).then(function (reply) {
        if (mine !== asked) return;  // a newer query is on its way
        show(queryError, "");
        fill(list, count, reply);
      }).catch(function (error) {
        if (mine !== asked) return;
        list.textContent = "";
        if (error.status === 422) { show(queryError, message(error)); count.textContent = "Fix the query to see a preview."; }
        else count.textContent = "No preview: " + message(error);
      });
    }

    function soon() {
      clearTimeout(timer);
      timer = setTimeout(now, PREVIEW_DELAY_MS);
    }

    return { now: now, soon: soon };
  }

  function fill(list, count, reply) {
    list.textContent = "";
    reply.articles.forEach(function (article) { list.appendChild(previewItem(article)); });
    var text = reply.total === 0
      ? "Nothing in the last 7 days matches yet; the alert will watch new stories."
      : plural(reply.total, "article") + " in the last 7 days match";
    if (reply.total > reply.articles.length) text += " (the newest " + reply.articles.length + " shown)";
    count.textContent = text + ".";
  }

  function previewItem(article) {
    var item = element("li", "preview-item");
    var title = element(webLink(article.url) ? "a" : "span", "preview-title");
    if (title.tagName === "A") { title.href = article.url; title.rel = "noopener"; }
    title.innerHTML = article.title_html;  // escaped by the server, matched terms in <mark>
    item.appendChild(title);
    var meta = [article.source, when(article.published || article.fetched_at)].filter(Boolean);
    if (meta.length) item.appendChild(element("p", "meta", meta.join(" · ")));
    var snippet = element("p", "snippet");
    snippet.innerHTML = article.snippet_html;  // escaped by the server too
    item.appendChild(snippet);
    return item;
  }

  function when(iso) {
    if (!iso) return "";
    var date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
    return isNaN(date) ? "" : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  // -- topics: one-click follow -------------------------------------------------------------

  function topicButtons() {
    $all("button.follow[data-topic]").forEach(function (button) {
      button.addEventListener("click", function () { toggleTopic(button); });
    });
    $all("select.topic-mode[data-topic]").forEach(function (select) {
      select.addEventListener("change", function () { changeTopicMode(select); });
    });
  }

  function topicPath(id) { return "/api/v1/topics/" + encodeURIComponent(id) + "/follow"; }

  function toggleTopic(button) {
    if (button.dataset.busy === "yes") return;
    button.dataset.busy = "yes";
    var id = button.dataset.topic;
    var following = button.dataset.following === "yes";
    var mode = $("#topic-" + id + "-mode");
    var call = following
      ? tidings.api("DELETE", topicPath(id))
      : tidings.api("POST", topicPath(id), { mode: mode ? mode.value : "quick" });
    call.then(function () {
      setFollowing(button, !following);
      tidings.toast((following ? "Stopped following " : "Following ") + topicName(button) + ".");
    }).catch(function (error) {
      tidings.toast(message(error));
    }).then(function () { button.dataset.busy = "no"; });
  }

  function changeTopicMode(select) {
    var button = $("button.follow[data-topic='" + select.dataset.topic + "']");
    if (!button || button.dataset.following !== "yes") return;  // used by the next Enable
    tidings.api("POST", topicPath(select.dataset.topic), { mode: select.value }).then(function () {
      tidings.toast(topicName(button) + ": " + select.options[select.selectedIndex].text + ".");
    }).catch(function (error) { tidings.toast(message(error)); });
  }

  function setFollowing(button, following) {
    button.dataset.following = following ? "yes" : "no";
    button.textContent = following ? "Following" : "Enable";
    button.classList.toggle("on", following);
    button.classList.toggle("primary", !following);
    var row = button.closest(".topic");
    if (row) row.classList.toggle("following", following);
  }

  function topicName(button) {
    var row = button.closest(".topic");
    var name = row && $(".topic-name", row);
    return name ? name.textContent.trim() : "the topic";
  }

  // -- notification settings ----------------------------------------------------------------

  function channelTests() {
    $all("button.channel-test[data-channel]").forEach(function (button) {
      button.addEventListener("click", function () {
        var row = button.closest(".channel");
        var result = row && $(".test-result", row);
        show(result, "Sending a test notification…");
        var path = "/api/v1/channels/" + encodeURIComponent(button.dataset.channel) + "/test";
        tidings.api("POST", path).then(function (reply) {
          result.classList.toggle("failed", !reply.ok);
          show(result, reply.ok ? "Test notification sent: check that it arrived." : "Not sent: " + reply.error);
        }).catch(function (error) {
          result.classList.add("failed");
          show(result, "Not sent: " + message(error));
        });
      });
    });
  }

  function alertChannelForms() {
    $all("form.alert-channels[data-alert]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var result = $(".save-result", form);
        var path = "/api/v1/alerts/" + encodeURIComponent(form.dataset.alert);
        tidings.api("PATCH", path, { channels: chosenChannels(form) || null }).then(function () {
          result.classList.remove("failed");
          show(result, "Saved.");
        }).catch(function (error) {
          result.classList.add("failed");
          show(result, message(error));
        });
      });
    });
  }

  function webhookSecret(form) {
    form.addEventListener("tidings:done", function (event) {
      var box = $("#webhook-secret");
      $("#webhook-secret-value").textContent = (event.detail && event.detail.secret) || "(none)";
      box.hidden = false;
      form.reset();
    });
  }

  // -- time settings --------------------------------------------------------------------------

  function timeForm(form) {
    var zone = form.elements.timezone;
    var savedKey = "tidings.time-settings-saved." + form.dataset.user;
    if (form.dataset.detect === "yes" && !remembered(savedKey)) detectZone(zone);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var error = $("[data-error]", form);
      var saved = $("#time-saved");
      show(error, "");
      saved.textContent = "";
      var body = timeBody(form);
      if (typeof body === "string") { show(error, body); return; }
      tidings.api("PUT", "/api/v1/settings", body).then(function () {
        remember(savedKey);
        $("#timezone-detected").hidden = true;
        saved.textContent = "Saved.";
      }).catch(function (failure) { show(error, message(failure)); });
    });
  }

  function detectZone(select) {
    var detected = "";
    try { detected = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { detected = ""; }
    if (!detected || detected === select.value) return;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === detected; });
    if (!known) select.appendChild(new Option(detected, detected));
    select.value = detected;
    $("#timezone-detected").hidden = false;
  }

  // The settings as PUT /api/v1/settings takes them, or what to fix (a string).
  function timeBody(form) {
    var start = form.elements.quiet_start.value;
    var end = form.elements.quiet_end.value;
    if (!start !== !end) return "Give both the start and the end of quiet hours, or neither.";
    var budget = form.elements.quick_budget_per_hour.value.trim();
    if (budget !== "" && !/^\d+$/.test(budget)) return "The hourly limit is a whole number (or empty for none).";
    return {
      timezone: form.elements.timezone.value,
      digest_time: form.elements.digest_time.value,
      weekly_day: form.elements.weekly_day.value,
      quiet_hours: start ? start + "-" + end : null,
      quick_budget_per_hour: budget === "" ? null : parseInt(budget, 10),
    };
  }

  function remembered(key) {
    try { return window.localStorage.getItem(key) === "yes"; } catch (e) { return false; }
  }

  function remember(key) {
    try { window.localStorage.setItem(key, "yes"); } catch (e) { /* private mode: no memory */ }
  }

  // -- account pages ----------------------------------------------------------------------------

  function resetRequest(form) {
    form.addEventListener("tidings:done", function (event) {
      var status = (event.detail && event.detail.status) || "A reset link is on its way.";
      show($("#reset-sent"), status.charAt(0).toUpperCase() + status.slice(1) + ".");
    });
  }

  // -- home: opening a story records the click (and marks it read) ---------------------------

  function storyClicks(list) {
    function record(event) {
      var link = event.target.closest ? event.target.closest("a[data-click]") : null;
      if (!link || (event.type === "auxclick" && event.button !== 1)) return;
      fetch("/api/v1/notifications/" + encodeURIComponent(link.dataset.click) + "/click", {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,  // the page may be leaving for the article
        headers: { "Accept": "application/json", "X-CSRF-Token": tidings.csrfToken() },
      }).catch(function () { /* the article opens anyway */ });
      var story = link.closest(".story");
      if (story) story.classList.remove("unread");
    }
    list.addEventListener("click", record);
    list.addEventListener("auxclick", record);
  }

  function start() {
    if (!window.tidings) return;
    var form;
    if ((form = $("#alert-form"))) alertForm(form);
    topicButtons();
    channelTests();
    alertChannelForms();
    if ((form = $("#add-webhook"))) webhookSecret(form);
    if ((form = $("#time-form"))) timeForm(form);
    if ((form = $("#reset-request-form"))) resetRequest(form);
    var stories = $("#stories");
    if (stories) storyClicks(stories);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
