// Agent console: speaks /console/ws (docs/console.md). Every text goes through textContent.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ws = null, me = null, token = "", welcomed = false, attempt = 0;
  var chats = {};      // conversation -> {info, lastSeq, el (transcript nodes), unread}
  var current = "";
  var agents = [];
  var canned = {};
  var typingTimer = null, lastTypingSent = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function send(f) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(f)); return true; } return false; }
  function newID() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  function hm(ts) { var d = new Date(ts); return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
  function wait(s) { var m = Math.floor(s / 60); return m > 0 ? m + "m" + (s % 60) + "s" : s + "s"; }

  $("signin-form").addEventListener("submit", function (e) {
    e.preventDefault();
    token = $("token").value.trim();
    try { sessionStorage.setItem("claimline.console.token", token); } catch (x) { /* private mode */ }
    connect();
  });

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/console/ws");
    $("conn-status").textContent = "連線中… Connecting";
    ws.onopen = function () {
      var last = {};
      Object.keys(chats).forEach(function (c) { last[c] = chats[c].lastSeq; });
      send({ type: "auth", token: token, last_seq: last });
    };
    ws.onmessage = function (ev) { var f; try { f = JSON.parse(ev.data); } catch (x) { return; } onFrame(f); };
    ws.onclose = function () {
      $("conn-status").setAttribute("data-state", "offline");
      $("conn-status").textContent = "離線 Offline";
      if (welcomed) { attempt++; setTimeout(connect, Math.min(1000 * attempt, 10000)); }
    };
  }

  function onFrame(f) {
    switch (f.type) {
      case "welcome":
        welcomed = true; attempt = 0; me = f.agent; canned = f.canned || {};
        $("signin").hidden = true; $("console").hidden = false;
        $("me").textContent = me.name + " (" + me.role + ")";
        $("conn-status").setAttribute("data-state", "online");
        $("conn-status").textContent = "已連線 Online";
        $("supervisor").hidden = !f.supervisor;
        quality.enabled = me.role === "supervisor" || me.role === "manager";
        $("tab-quality").hidden = !quality.enabled;
        $("ready").disabled = !f.takes_chats;
        if ($("ready").checked) send({ type: "status", ready: true });
        renderCanned();
        break;
      case "queue": renderQueue(f.queue || []); break;
      case "assigned": onAssigned(f); break;
      case "message": onMessage(f); break;
      case "typing":
        if (f.conversation === current) {
          $("typing").hidden = false;
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { $("typing").hidden = true; }, 4000);
        }
        break;
      case "ended": onEnded(f); break;
      case "tasks": renderTasks(f.tasks || []); break;
      case "supervisor": renderSupervisor(f); break;
      case "alert": showAlert(f); break;
      case "alert_acked": var b = document.querySelector('#alerts .alert-banner[data-alert="' + f.id + '"]'); if (b) b.parentNode.removeChild(b); break;
      case "ack": break;
      case "status": $("ready").checked = !!f.ready; break;
      case "error":
        if (!welcomed) { $("signin-error").textContent = f.message + " (" + f.code + ")"; }
        else { flash(f.message); }
        break;
    }
  }

  function flash(text) {
    var n = el("div", "notice", text);
    n.id = "notice";
    var old = $("notice"); if (old) old.parentNode.removeChild(old);
    $("topbar").appendChild(n);
    setTimeout(function () { if (n.parentNode) n.parentNode.removeChild(n); }, 5000);
  }

  function renderQueue(q) {
    var ul = $("queue"); clear(ul);
    $("queue-count").textContent = q.length;
    q.forEach(function (it) {
      var li = el("li", "queue-item priority-" + it.priority);
      li.setAttribute("data-conversation", it.conversation);
      li.appendChild(el("div", "line", "#" + it.position + " · " + it.channel + " · " + it.priority));
      li.appendChild(el("div", "reason", it.reason + (it.flow ? " · " + it.flow : "") + " · " + wait(it.wait_seconds)));
      var b = el("button", "accept", "接手 Accept");
      b.type = "button";
      b.addEventListener("click", function () { send({ type: "accept", conversation: it.conversation }); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function onAssigned(f) {
    var c = chats[f.conversation];
    if (!c) { c = chats[f.conversation] = { lastSeq: 0, nodes: el("div", "log"), unread: 0 }; }
    c.info = f;
    // The transcript is whole: rebuild it (a reconnect sends it again).
    clear(c.nodes); c.lastSeq = 0;
    (f.transcript || []).forEach(function (m) { addMessage(c, m); });
    renderChats();
    if (!current || current === f.conversation) select(f.conversation);
  }

  function addMessage(c, m) {
    if (m.seq <= c.lastSeq) return false;
    c.lastSeq = m.seq;
    var kind = m.from;
    var node = el("div", "msg " + kind);
    node.setAttribute("data-seq", m.seq);
    var who = m.from === "agent" ? (m.agent || "agent") : m.from;
    node.appendChild(el("span", "who", who + " · " + hm(m.ts)));
    node.appendChild(el("span", "text", m.text || (m.action ? "[" + m.action + "]" : "")));
    (m.attachments || []).forEach(function (a) { node.appendChild(el("div", "att", "📎 " + a.filename)); });
    c.nodes.appendChild(node);
    return true;
  }

  function onMessage(m) {
    var c = chats[m.conversation];
    if (!c) return;
    if (addMessage(c, m) && m.conversation !== current) { c.unread++; renderChats(); }
    if (m.from === "customer" && m.conversation === current) $("typing").hidden = true;
    if (m.conversation === current) $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function onEnded(f) {
    delete chats[f.conversation];
    if (current === f.conversation) {
      current = "";
      $("chat").hidden = true; $("context").hidden = true;
      var rest = Object.keys(chats); if (rest.length) select(rest[0]);
    }
    renderChats();
  }

  function renderChats() {
    var ul = $("chats"); clear(ul);
    Object.keys(chats).forEach(function (id) {
      var c = chats[id];
      var li = el("li", "chat-item priority-" + c.info.priority + (id === current ? " active" : ""));
      li.setAttribute("data-conversation", id);
      li.appendChild(el("span", "", c.info.channel + " · " + c.info.reason + " "));
      if (c.unread) li.appendChild(el("span", "unread", "(" + c.unread + ")"));
      li.addEventListener("click", function () { select(id); });
      ul.appendChild(li);
    });
    $("load").textContent = Object.keys(chats).length + " chats";
  }

  function select(id) {
    current = id;
    var c = chats[id];
    c.unread = 0;
    $("chat").hidden = false; $("context").hidden = false;
    $("chat").setAttribute("data-conversation", id);
    $("chat-title").textContent = c.info.channel + " · " + c.info.conversation.slice(0, 8);
    var t = $("transcript"); clear(t); t.appendChild(c.nodes); t.scrollTop = t.scrollHeight;
    renderContext(c.info);
    renderCanned();
    renderTransferTargets();
    renderChats();
  }

  function dl(target, pairs) {
    clear(target);
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === "") return;
      target.appendChild(el("dt", "", p[0]));
      var dd = el("dd", "", String(p[1]));
      if (p[2]) dd.id = p[2];
      target.appendChild(dd);
    });
  }

  function renderContext(f) {
    dl($("handoff-info"), [["Reason", f.reason], ["Priority", f.priority], ["Flow", f.flow], ["Channel", f.channel],
      ["Lang", f.lang], ["Policy", f.policy_number], ["Queued", hm(f.queued_at)]]);
    var s = f.slots || {};
    dl($("slots"), Object.keys(s).map(function (k) { return [k, s[k]]; }));
    var box = $("case"); clear(box);
    if (!f.case) { box.appendChild(el("p", "none", "無關聯案件 No linked case")); }
    else {
      var k = f.case, d = el("dl");
      box.appendChild(d);
      dl(d, [["Case", k.id, "case-id"], ["Status", k.status], ["Type", k.claim_type], ["Priority", k.priority],
        ["Claimant", k.claimant && k.claimant.name], ["National ID", k.claimant && k.claimant.national_id, "case-national-id"],
        ["Phone", k.claimant && k.claimant.phone], ["Missing", (k.missing_documents || []).join(", ")]]);
    }
    if (f.policy) {
      var p = el("dl"); box.appendChild(el("h3", "", "保單 Policy")); box.appendChild(p);
      dl(p, [["Number", f.policy.number], ["Product", f.policy.product], ["Holder", f.policy.holder && f.policy.holder.name],
        ["National ID", f.policy.holder && f.policy.holder.national_id, "policy-national-id"], ["Status", f.policy.status]]);
    }
  }

  function renderCanned() {
    var box = $("canned"); clear(box);
    var c = current && chats[current];
    var lang = c && c.info.lang === "en" ? "en" : "zh-TW";
    (canned[lang] || []).forEach(function (r) {
      var b = el("button", "canned-reply", r.title);
      b.type = "button";
      b.setAttribute("data-id", r.id);
      b.addEventListener("click", function () { $("reply-input").value = r.text; $("reply-input").focus(); });
      box.appendChild(b);
    });
  }

  function renderTransferTargets() {
    var sel = $("transfer-agent"); clear(sel);
    agents.filter(function (a) { return a.online && me && a.name !== me.name && a.role !== "admin"; }).forEach(function (a) {
      var o = el("option", "", a.name + " (" + a.load + "/" + a.max + ")"); o.value = a.name; sel.appendChild(o);
    });
  }

  function renderTasks(tasks) {
    var ul = $("tasks"); clear(ul);
    $("task-count").textContent = tasks.length;
    tasks.forEach(function (t) {
      var li = el("li", "task"); li.setAttribute("data-task", t.id);
      li.appendChild(el("div", "", t.channel + " · " + hm(t.created_at)));
      li.appendChild(el("div", "note", t.note));
      var b = el("button", "task-done", "完成 Done"); b.type = "button";
      b.addEventListener("click", function () { send({ type: "task_done", id: t.id }); });
      li.appendChild(b); ul.appendChild(li);
    });
  }

  function renderSupervisor(f) {
    agents = f.agents || [];
    $("sup-summary").textContent = "排隊 Queue: " + f.queue_length + " · 最久等候 Longest wait: " + wait(f.longest_wait_seconds);
    var tb = $("sup-agents").tBodies[0]; clear(tb);
    agents.forEach(function (a) {
      var tr = el("tr"); [a.name, a.role, a.online ? "●" : "○", a.ready ? "✓" : "", a.load + "/" + a.max].forEach(function (v) { tr.appendChild(el("td", "", v)); });
      tb.appendChild(tr);
    });
    var lb = $("sup-live").tBodies[0]; clear(lb);
    (f.conversations || []).forEach(function (c) {
      var tr = el("tr"); [c.conversation.slice(0, 8), c.channel, c.agent, c.priority].forEach(function (v) { tr.appendChild(el("td", "", v)); });
      lb.appendChild(tr);
    });
    renderTransferTargets();
  }

  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("reply-input").value.trim();
    if (!text || !current) return;
    if (send({ type: "message", conversation: current, id: newID(), text: text })) $("reply-input").value = "";
  });
  $("reply-input").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("send").click(); return; }
    var now = Date.now();
    if (current && now - lastTypingSent > 2000) { lastTypingSent = now; send({ type: "typing", conversation: current }); }
  });
  $("end-btn").addEventListener("click", function () {
    if (current) send({ type: "end", conversation: current, resolved: $("resolved").checked });
  });
  $("requeue-btn").addEventListener("click", function () {
    if (current) send({ type: "transfer", conversation: current, to_queue: true });
  });
  $("transfer-btn").addEventListener("click", function () {
    var to = $("transfer-agent").value;
    if (current && to) send({ type: "transfer", conversation: current, to_agent: to });
  });
  $("ready").addEventListener("change", function () { send({ type: "status", ready: $("ready").checked }); });
  setInterval(function () { send({ type: "ping" }); }, 20000);

  // Mass-complaint alerts: a banner per alert until the viewer acknowledges it.
  function showAlert(f) {
    if (document.querySelector('#alerts .alert-banner[data-alert="' + f.id + '"]')) return;
    var b = el("div", "alert-banner");
    b.setAttribute("data-alert", f.id);
    b.setAttribute("data-kind", f.kind);
    var what = f.category || f.topic || "";
    b.appendChild(el("span", "alert-text", "⚠ 大量客訴 Mass complaint: " + what + " · " + f.count + " 件 in " + f.window + " · " + hm(f.at)));
    var ack = el("button", "alert-ack", "已知悉 Acknowledge"); ack.type = "button";
    ack.addEventListener("click", function () { send({ type: "alert_ack", id: f.id }); });
    b.appendChild(ack);
    $("alerts").appendChild(b);
  }

  // Quality tab (supervisors and managers): the back-office quality API with the staff token.
  var quality = { enabled: false, current: "" };
  function api(method, path, body) {
    var opts = { method: method, headers: { "Authorization": "Bearer " + token } };
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error((j.error && j.error.message) || r.status); return j; });
    });
  }
  function sinceParam() { var v = $("q-since").value; return v ? "?since=" + encodeURIComponent(v) : ""; }
  function pct(x) { return (Math.round(x * 1000) / 10) + "%"; }
  function showTab(which) {
    var q = which === "quality";
    $("quality").hidden = !q; $("layout").hidden = q;
    $("tab-quality").classList.toggle("active", q); $("tab-chats").classList.toggle("active", !q);
    if (q) loadQuality();
  }
  $("tab-chats").addEventListener("click", function () { showTab("chats"); });
  $("tab-quality").addEventListener("click", function () { showTab("quality"); });
  $("q-refresh").addEventListener("click", loadQuality);
  function loadQuality() {
    api("GET", "/api/v1/quality/bot" + sinceParam()).then(function (j) {
      var b = j.bot;
      dl($("q-bot"), [["Conversations", b.conversations, "q-bot-conversations"], ["Containment", pct(b.containment_rate), "q-bot-containment"],
        ["Handoff rate", pct(b.handoff_rate), "q-bot-handoff"], ["Misunderstanding", pct(b.misunderstanding_rate), "q-bot-misunderstanding"]]);
    }).catch(function (e) { flash(String(e.message)); });
    api("GET", "/api/v1/quality/agents" + sinceParam()).then(function (j) {
      var tb = $("q-agents").tBodies[0]; clear(tb);
      (j.agents || []).forEach(function (a) {
        var tr = el("tr", "q-agent"); tr.setAttribute("data-agent", a.agent);
        [a.agent, a.chats, a.first_response_avg_seconds, a.handling_avg_seconds,
          a.satisfaction_count ? a.satisfaction_mean + " (" + a.satisfaction_count + ")" : "–",
          a.review_count ? a.review_mean + " (" + a.review_count + ")" : "–"].forEach(function (v) { tr.appendChild(el("td", "", String(v))); });
        tb.appendChild(tr);
      });
    }).catch(function (e) { flash(String(e.message)); });
  }
  $("q-sample-btn").addEventListener("click", function () {
    var req = { count: parseInt($("q-count").value, 10) || 5 };
    if ($("q-agent").value.trim()) req.agent = $("q-agent").value.trim();
    if ($("q-since").value) req.since = $("q-since").value;
    api("POST", "/api/v1/reviews/sample", req).then(function (j) {
      $("q-available").textContent = j.available + " 未覆核 unreviewed";
      var ul = $("q-sample"); clear(ul);
      (j.conversations || []).forEach(function (c) {
        var li = el("li", "q-sampled", c.channel + " · " + hm(c.first_at) + " · " + (c.agents.join(", ") || "bot") + " · " + c.id.slice(0, 8));
        li.setAttribute("data-conversation", c.id);
        li.addEventListener("click", function () { openReview(c.id); });
        ul.appendChild(li);
      });
    }).catch(function (e) { flash(String(e.message)); });
  });
  function openReview(id) {
    quality.current = id;
    Array.prototype.forEach.call(document.querySelectorAll("#q-sample li"), function (li) {
      li.classList.toggle("active", li.getAttribute("data-conversation") === id);
    });
    api("GET", "/api/v1/conversations/" + encodeURIComponent(id)).then(function (j) {
      var c = j.conversation;
      $("q-review").hidden = false; $("q-review-status").textContent = "";
      $("q-review-title").textContent = c.channel + " · " + (c.agents.join(", ") || "bot") +
        (c.rating ? " · ★" + c.rating.score + (c.rating.comment ? " " + c.rating.comment : "") : "");
      var t = $("q-transcript"); clear(t);
      j.messages.forEach(function (m) {
        var n = el("div", "msg " + m.from); n.setAttribute("data-seq", m.seq);
        n.appendChild(el("span", "who", (m.from === "agent" ? m.agent : m.from) + " · " + hm(m.ts)));
        n.appendChild(el("span", "text", m.text || (m.action ? "[" + m.action + "]" : "")));
        t.appendChild(n);
      });
    }).catch(function (e) { flash(String(e.message)); });
  }
  $("q-review-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!quality.current) return;
    api("POST", "/api/v1/reviews", { conversation: quality.current, score: parseInt($("q-score").value, 10), note: $("q-note").value })
      .then(function (r) { $("q-review-status").textContent = "已覆核 Reviewed (" + r.score + ")"; $("q-review-status").setAttribute("data-review", r.id); loadQuality(); })
      .catch(function (e) { $("q-review-status").textContent = String(e.message); });
  });

  try {
    var saved = sessionStorage.getItem("claimline.console.token");
    if (saved) { token = saved; $("token").value = saved; connect(); }
  } catch (x) { /* private mode */ }
})();
