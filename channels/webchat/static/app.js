// Claims Service web chat widget: speaks the /webchat/ws protocol (http-api.md 1.1).
// Every text goes through textContent, never innerHTML.
(function () {
  "use strict";

  var KEY = "claimline.webchat.";
  var UI = {
    "zh-TW": {
      connecting: "連線中…", online: "已連線", offline: "連線中斷，重新連線中…",
      placeholder: "請輸入訊息…", send: "送出", toggle: "English", toggleText: "English",
      failed: "無法送出", agent: "專員",
      queued: "排隊中，您是第 {n} 位", assigned: "專員 {agent} 已加入", ended: "專員已結束對話，由線上小幫手繼續為您服務",
      attach: "附加檔案", uploading: "上傳中…", uploadFailed: "檔案無法上傳：", notReady: "尚未連線，請稍後再試。",
      upload_errors: {
        unsupported_type: "只能傳送 JPEG、PNG、HEIC 照片或 PDF 檔。",
        file_too_large: "檔案超過 20 MB，請縮小後再傳，或分成幾個檔案。",
        empty_file: "這個檔案是空的。",
        too_many_files: "一次最多傳 10 個檔案。",
        invalid_session: "連線已過期，請重新整理頁面。",
        unavailable: "系統暫時無法接收檔案，請稍後再試。"
      }
    },
    en: {
      connecting: "Connecting…", online: "Connected", offline: "Disconnected, reconnecting…",
      placeholder: "Type a message…", send: "Send", toggle: "中文", toggleText: "中文",
      failed: "Not sent", agent: "Agent",
      queued: "In the queue: you are number {n}", assigned: "{agent} has joined", ended: "The agent has left; the assistant is back",
      attach: "Attach a file", uploading: "Uploading…", uploadFailed: "The file was not sent: ", notReady: "Not connected yet; please try again in a moment.",
      upload_errors: {
        unsupported_type: "Only JPEG, PNG and HEIC photos and PDF files can be sent.",
        file_too_large: "The file is over 20 MB; please send a smaller one or split it.",
        empty_file: "The file is empty.",
        too_many_files: "At most 10 files at a time.",
        invalid_session: "The session has expired; please reload the page.",
        unavailable: "Files cannot be received right now; please try again later."
      }
    }
  };

  var $messages = document.getElementById("messages");
  var $input = document.getElementById("input");
  var $send = document.getElementById("send");
  var $status = document.getElementById("status");
  var $lang = document.getElementById("lang");
  var $form = document.getElementById("composer");
  var $attach = document.getElementById("attach");
  var $file = document.getElementById("file");

  var lang = load("lang") === "en" ? "en" : "zh-TW";
  var session = load("session") || "";
  // The transcript is not kept in the page's storage, so a fresh page asks for everything (seq > 0);
  // lastSeq then tracks what this page has shown, and a reconnect resumes from it.
  var lastSeq = 0;
  var outbox = loadJSON("outbox") || []; // frames not yet acked; resent after reconnect (ids dedupe)
  var ws = null, welcomed = false, attempt = 0, reconnectTimer = null, pingTimer = null, pongTimer = null;
  var typingTimer = null;

  function load(k) { try { return localStorage.getItem(KEY + k); } catch (e) { return null; } }
  function save(k, v) { try { localStorage.setItem(KEY + k, v); } catch (e) { /* private mode */ } }
  function drop(k) { try { localStorage.removeItem(KEY + k); } catch (e) { /* private mode */ } }
  function loadJSON(k) { try { return JSON.parse(load(k) || "null"); } catch (e) { return null; } }
  function saveOutbox() { save("outbox", JSON.stringify(outbox)); }

  function newID() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function t(k) { return UI[lang][k]; }

  function applyLang() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-Hant-TW";
    $input.placeholder = t("placeholder");
    $send.textContent = t("send");
    $lang.textContent = t("toggle");
    $attach.title = t("attach");
    setStatus($status.getAttribute("data-state"));
  }

  function setStatus(state) {
    $status.setAttribute("data-state", state);
    $status.textContent = t(state);
  }

  function timeOf(ts) {
    var d = ts ? new Date(ts) : new Date();
    if (isNaN(d.getTime())) d = new Date();
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function nearBottom() {
    return $messages.scrollHeight - $messages.scrollTop - $messages.clientHeight < 120;
  }

  function scrollDown() { $messages.scrollTop = $messages.scrollHeight; }

  // bubble builds one message element; the caller inserts it.
  function bubble(kind, text, ts, extra) {
    var el = document.createElement("div");
    el.className = "msg " + kind;
    var b = document.createElement("div");
    b.className = "bubble";
    b.textContent = text;
    el.appendChild(b);
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = (extra ? extra + " · " : "") + timeOf(ts);
    el.appendChild(meta);
    return el;
  }

  function append(el, force) {
    var stick = force || nearBottom();
    var typing = $messages.querySelector(".typing");
    $messages.insertBefore(el, typing); // the typing bubble stays last
    if (stick) scrollDown();
  }

  function showTyping() {
    hideTyping();
    var el = document.createElement("div");
    el.className = "msg typing"; // not .bot: tests and screen readers count real bot messages
    el.setAttribute("aria-label", "…");
    var b = document.createElement("div");
    b.className = "bubble";
    for (var i = 0; i < 3; i++) {
      var d = document.createElement("span");
      d.className = "dot";
      b.appendChild(d);
    }
    el.appendChild(b);
    $messages.appendChild(el);
    scrollDown();
    typingTimer = setTimeout(hideTyping, 30000);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    var el = $messages.querySelector(".typing");
    if (el) el.parentNode.removeChild(el);
  }

  function disableOldButtons() {
    var buttons = $messages.querySelectorAll(".buttons button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  function sizeOf(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(0) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  // attachmentList shows files by name, size and an icon; never their content.
  function attachmentList(list) {
    var box = document.createElement("div");
    box.className = "attachments";
    list.forEach(function (a) {
      var row = document.createElement("div");
      row.className = "attachment";
      row.setAttribute("data-id", a.id || "");
      var icon = document.createElement("span");
      icon.className = "icon";
      icon.setAttribute("aria-hidden", "true");
      // A text badge rather than an emoji: not every phone or kiosk has an emoji font.
      var pdf = a.content_type === "application/pdf";
      icon.className = "icon " + (pdf ? "pdf" : "image");
      icon.textContent = pdf ? "PDF" : "IMG";
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = a.filename;
      var size = document.createElement("span");
      size.className = "size";
      size.textContent = sizeOf(a.size || 0);
      row.appendChild(icon);
      row.appendChild(name);
      row.appendChild(size);
      box.appendChild(row);
    });
    return box;
  }

  function systemLine(text) {
    append(bubble("system", text, null), true);
  }

  function renderMessage(m) {
    if (m.from === "customer" && m.attachments && m.attachments.length) {
      var up = bubble("customer", m.text || "", m.ts);
      up.setAttribute("data-seq", m.seq);
      if (!m.text) up.firstChild.textContent = "";
      up.firstChild.appendChild(attachmentList(m.attachments));
      append(up);
      return;
    }
    if (m.from === "customer") {
      var mine = m.id && $messages.querySelector('.msg.customer[data-id="' + cssEscape(m.id) + '"]');
      if (mine) {
        // Re-append: a bubble queued before this page's history arrived moves to its place in seq order.
        append(mine);
        delivered(mine, m.seq);
        return;
      }
      var c = bubble("customer", m.text, m.ts);
      c.setAttribute("data-seq", m.seq);
      if (m.id) c.setAttribute("data-id", m.id);
      append(c);
      return;
    }
    hideTyping();
    var kind = m.from === "agent" ? "agent" : m.from === "system" ? "system" : "bot";
    var el = bubble(kind, m.text, m.ts, kind === "agent" ? (m.agent || t("agent")) : "");
    el.setAttribute("data-seq", m.seq);
    if (m.buttons && m.buttons.length) {
      disableOldButtons(); // only the latest choices are live
      var box = document.createElement("div");
      box.className = "buttons";
      m.buttons.forEach(function (btn) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = btn.label;
        b.setAttribute("data-value", btn.value);
        b.addEventListener("click", function () {
          var all = box.querySelectorAll("button");
          for (var i = 0; i < all.length; i++) all[i].disabled = true;
          submit({ type: "action", id: newID(), value: btn.value, text: btn.label }, btn.label);
        });
        box.appendChild(b);
      });
      el.insertBefore(box, el.lastChild);
    }
    append(el);
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&");
  }

  function delivered(el, seq) {
    el.classList.remove("pending");
    if (seq) el.setAttribute("data-seq", seq);
  }

  // submit shows the customer's bubble at once and sends (or queues) the frame.
  function submit(frame, shown) {
    var el = bubble("customer pending", shown, null);
    el.setAttribute("data-id", frame.id);
    append(el, true);
    outbox.push(frame);
    saveOutbox();
    send(frame);
    showTyping();
  }

  function send(frame) {
    if (ws && welcomed && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function acked(id, seq) {
    outbox = outbox.filter(function (f) { return f.id !== id; });
    saveOutbox();
    var el = $messages.querySelector('.msg.customer[data-id="' + cssEscape(id) + '"]');
    if (el) delivered(el, seq);
  }

  function refused(f) {
    if (f.code === "unavailable") return; // stays in the outbox, resent after reconnect
    outbox = outbox.filter(function (o) { return o.id !== f.id; });
    saveOutbox();
    var el = $messages.querySelector('.msg.customer[data-id="' + cssEscape(f.id) + '"]');
    if (el) {
      el.classList.remove("pending");
      el.classList.add("failed");
      el.lastChild.textContent = t("failed") + " · " + el.lastChild.textContent;
    }
    hideTyping();
  }

  function connect() {
    clearTimeout(reconnectTimer);
    setStatus(attempt === 0 ? "connecting" : "offline");
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      ws = new WebSocket(proto + location.host + "/webchat/ws");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    welcomed = false;
    ws.onopen = function () {
      var hello = { type: "hello", lang: lang, last_seq: lastSeq };
      if (session) hello.session = session;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = function () {
      welcomed = false;
      clearInterval(pingTimer);
      clearTimeout(pongTimer);
      scheduleReconnect();
    };
  }

  function onFrame(f) {
    switch (f.type) {
      case "welcome":
        welcomed = true;
        attempt = 0;
        session = f.session;
        save("session", session);
        setStatus("online");
        outbox.forEach(send);
        startPings();
        break;
      case "message":
        if (f.seq <= lastSeq) return; // already shown
        lastSeq = f.seq;
        save("last_seq", String(lastSeq));
        renderMessage(f);
        break;
      case "handoff":
        if (f.seq && f.seq <= lastSeq) return; // a step already shown
        if (f.seq) { lastSeq = f.seq; save("last_seq", String(lastSeq)); }
        showHandoff(f);
        break;
      case "typing":
        if (f.from === "agent") showTyping();
        break;
      case "ack":
        acked(f.id, f.seq);
        break;
      case "pong":
        clearTimeout(pongTimer);
        break;
      case "error":
        if (f.code === "invalid_session") {
          // The conversation is gone (or the token is stale): start a new one with a clean page.
          session = "";
          lastSeq = 0;
          drop("session");
          drop("last_seq");
          while ($messages.firstChild) $messages.removeChild($messages.firstChild);
          attempt = 0;
        } else if (f.id) {
          refused(f);
        }
        break;
    }
  }

  // showHandoff keeps the human handoff's progress in a banner under the header (http-api.md 1.1).
  function showHandoff(f) {
    var el = document.getElementById("handoff");
    if (!el) {
      el = document.createElement("div");
      el.id = "handoff";
      el.setAttribute("role", "status");
      $messages.parentNode.insertBefore(el, $messages);
    }
    el.setAttribute("data-state", f.state);
    if (f.state === "queued") {
      el.textContent = t("queued").replace("{n}", f.position || "");
      el.hidden = false;
    } else if (f.state === "assigned") {
      el.textContent = t("assigned").replace("{agent}", f.agent || t("agent"));
      el.hidden = false;
    } else {
      el.textContent = t("ended");
      setTimeout(function () { if (el.getAttribute("data-state") === "ended") el.hidden = true; }, 5000);
    }
  }

  // startPings notices a silently dead connection (a phone switching networks) sooner than TCP does.
  function startPings() {
    clearInterval(pingTimer);
    pingTimer = setInterval(function () {
      if (!send({ type: "ping" })) return;
      clearTimeout(pongTimer);
      pongTimer = setTimeout(function () { if (ws) ws.close(); }, 10000);
    }, 30000);
  }

  function scheduleReconnect() {
    setStatus("offline");
    var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    attempt++;
    reconnectTimer = setTimeout(connect, delay);
  }

  function sendTyped() {
    var text = $input.value.replace(/^\s+|\s+$/g, "");
    if (!text) return;
    $input.value = "";
    autosize();
    submit({ type: "message", id: newID(), text: text }, text);
    $input.focus();
  }

  function autosize() {
    $input.style.height = "auto";
    $input.style.height = Math.min($input.scrollHeight, 120) + "px";
  }

  $form.addEventListener("submit", function (e) { e.preventDefault(); sendTyped(); });
  $input.addEventListener("keydown", function (e) {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME candidate (注音, 倉頡) does not send.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendTyped();
    }
  });
  var typingSent = 0;
  $input.addEventListener("input", function () {
    autosize();
    // Only a person watches typing: tell the server at most every 3 seconds while an agent is there.
    var h = document.getElementById("handoff");
    if (h && h.getAttribute("data-state") === "assigned" && Date.now() - typingSent > 3000 && welcomed) {
      typingSent = Date.now();
      send({ type: "typing" });
    }
  });

  // Upload: the files go to /webchat/upload with the session; the stored message comes back over the
  // websocket as a customer message with attachments, like any other.
  $attach.addEventListener("click", function () { $file.click(); });
  $file.addEventListener("change", function () {
    var files = Array.prototype.slice.call($file.files || []);
    $file.value = "";
    if (files.length) upload(files);
  });

  // answered reports whether the newest message is from the bot or an agent.
  function answered() {
    var all = $messages.querySelectorAll(".msg:not(.typing)");
    var last = all[all.length - 1];
    return !!last && (last.classList.contains("bot") || last.classList.contains("agent"));
  }

  function upload(files) {
    if (!session) { systemLine(t("notReady")); return; }
    var body = new FormData();
    files.forEach(function (f) { body.append("file", f, f.name); });
    var pending = bubble("customer uploading", t("uploading"), null);
    pending.firstChild.appendChild(attachmentList(files.map(function (f) {
      return { filename: f.name, size: f.size, content_type: f.type };
    })));
    append(pending, true);
    $attach.disabled = true;
    function done() {
      $attach.disabled = false;
      if (pending.parentNode) pending.parentNode.removeChild(pending);
    }
    fetch("/webchat/upload", { method: "POST", body: body, headers: { "Authorization": "Bearer " + session } })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (j) {
          done();
          // The bot's answer may already be here (the socket can beat the upload's response).
          if (res.status === 201) { if (!answered()) showTyping(); return; }
          // The widget's own words for known refusals, in the customer's language; the server's
          // message otherwise.
          var code = j && j.error && j.error.code;
          var msg = (code && UI[lang].upload_errors[code]) || (j && j.error && j.error.message) || ("HTTP " + res.status);
          systemLine(t("uploadFailed") + msg);
        });
      })
      .catch(function () { done(); systemLine(t("uploadFailed") + t("offline")); });
  }
  $lang.addEventListener("click", function () {
    var text = UI[lang].toggleText;
    lang = lang === "en" ? "zh-TW" : "en";
    save("lang", lang);
    applyLang();
    submit({ type: "message", id: newID(), text: text }, text);
  });
  window.addEventListener("online", function () { if (!welcomed) { attempt = 0; connect(); } });

  // Frames queued by an earlier page that never got their ack are shown and resent.
  outbox.forEach(function (f) {
    var el = bubble("customer pending", f.text || f.value, null);
    el.setAttribute("data-id", f.id);
    append(el, true);
  });
  applyLang();
  connect();
})();
