"use strict";
(function () {
  const esc = window.SagaTimeline.esc;
  const ms = window.SagaTimeline.ms;
  const $ = (id) => document.getElementById(id);
  let csrf = null;
  let current = null; // the saga shown in detail: {service, id}

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.method && opts.method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
    }
    const r = await fetch(path, opts);
    if (r.status === 401) { window.location.assign("/login"); throw new Error("signed out"); }
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new Error((body && body.detail) ? JSON.stringify(body.detail) : `HTTP ${r.status}`);
    return body;
  }

  function toast(text, bad) {
    const t = $("toast");
    t.textContent = text;
    t.className = "toast" + (bad ? " bad" : "");
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  function confirmAction(title, text, okLabel) {
    const dialog = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel || "Confirm";
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  const pill = (text, cls) => `<span class="pill ${esc(cls || text)}">${esc(text)}</span>`;
  const when = (iso) => iso ? new Date(iso).toLocaleString() : "";
  const short = (id) => String(id).slice(0, 8);

  function table(headers, rows, empty) {
    if (!rows.length) return `<div class="empty">${esc(empty || "nothing")}</div>`;
    return `<table><thead><tr>${headers.map((h) => {
      const num = h.startsWith("#");
      return `<th class="${num ? "num" : ""}">${esc(num ? h.slice(1) : h)}</th>`;
    }).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
  }

  // ------------------------------------------------------------------ overview
  function serviceCard(s) {
    if (s.error) {
      return `<div class="card service-card" data-service="${esc(s.service)}"><div class="title">` +
        `<strong>${esc(s.service)}</strong>${pill("unreachable", "bad")}</div>` +
        `<div class="alert">${esc(s.error)}</div></div>`;
    }
    const statuses = ["running", "compensating", "completed", "compensated", "failed"];
    const byType = {};
    s.stats.counts.forEach((c) => { (byType[c.type] = byType[c.type] || {})[c.status] = c.count; });
    const rates = {};
    s.stats.rates.forEach((r) => { rates[r.type] = r; byType[r.type] = byType[r.type] || {}; });
    const sagaRows = Object.keys(byType).sort().map((type) => {
      const r = rates[type] || { last_5_minutes: 0, last_60_minutes: 0, stuck: 0 };
      return `<tr data-saga-type="${esc(type)}"><td>${esc(type)}</td>` +
        statuses.map((st) => `<td class="num">${byType[type][st] || ""}</td>`).join("") +
        `<td class="num">${r.last_5_minutes}</td><td class="num">${r.last_60_minutes}</td>` +
        `<td class="num">${r.stuck ? pill(String(r.stuck), "bad") : "0"}</td></tr>`;
    });
    const o = s.outbox;
    const health = (t) => t ? pill(t.running ? "running" : "down", t.running ? "ok" : "bad") : pill("absent", "bad");
    const tasks = s.tasks.tasks.map((t) => `<tr><td class="mono">${esc(t.name)}</td>` +
      `<td>${pill(t.running ? "up" : "down", t.running ? "ok" : "bad")}</td>` +
      `<td class="num">${t.restarts}</td><td class="small muted">${esc(t.last_error || "")}</td></tr>`);
    return `<div class="card service-card" data-service="${esc(s.service)}" data-testid="service-${esc(s.service)}">` +
      `<div class="title"><strong>${esc(s.service)}</strong>` +
      (s.tasks.down.length ? pill(`${s.tasks.down.length} down`, "bad") : pill("all tasks up", "ok")) +
      (s.stats.stuck ? pill(`${s.stats.stuck} stuck`, "bad") : "") + `</div>` +
      `<h3>Sagas</h3>` +
      `<div class="compact">` +
      table(["type", "#running", "#comp\u2019ing", "#done", "#comp\u2019d", "#failed",
        "#5 min", "#60 min", "#stuck"], sagaRows, "no saga types") + `</div>` +
      `<div class="small muted">started in the last 5 and 60 minutes; stuck: running or ` +
      `compensating past their deadline</div>` +
      `<h3>Outbox</h3><div class="kpis">` +
      `<div class="kpi"><b>${o.unsent}</b><span>unsent</span></div>` +
      `<div class="kpi"><b>${o.oldest_unsent_seconds === null ? "–" : o.oldest_unsent_seconds.toFixed(1) + " s"}</b><span>oldest unsent</span></div>` +
      `<div class="kpi"><b>${o.parked}</b><span>parked</span></div>` +
      `<div class="kpi"><b>${health(o.relay)}</b><span>relay</span></div>` +
      `<div class="kpi"><b>${health(o.dispatcher)}</b><span>dispatcher</span></div></div>` +
      `<h3>Supervised tasks and consumers</h3>` +
      table(["task", "state", "#restarts", "last error"], tasks, "none") + `</div>`;
  }

  async function loadOverview() {
    const data = await api("/api/overview");
    $("services").innerHTML = data.services.map(serviceCard).join("");
    $("overview-at").textContent = "as of " + new Date(data.at).toLocaleTimeString();
    const rows = data.queues.map((q) => `<tr data-queue="${esc(q.name)}">` +
      `<td class="mono">${esc(q.name)}</td><td class="num">${q.messages}</td><td class="num">${q.ready}</td>` +
      `<td class="num">${q.unacked}</td><td class="num">${q.consumers}</td>` +
      `<td class="num">${q.publish_rate.toFixed(1)}</td><td class="num">${q.deliver_rate.toFixed(1)}</td>` +
      `<td class="num">${q.ack_rate.toFixed(1)}</td></tr>`);
    $("queues").innerHTML = (data.queues_error ? `<div class="alert">${esc(data.queues_error)}</div>` : "") +
      table(["queue", "#messages", "#ready", "#unacked", "#consumers", "#publish/s", "#deliver/s", "#ack/s"],
        rows, "no queues");
  }

  // --------------------------------------------------------------------- sagas
  function sagaRows(list, withRetry) {
    return list.sagas.map((ref) => {
      const s = ref.saga;
      const retry = withRetry && s.status === "failed"
        ? `<button class="danger" data-retry="${esc(ref.service)}/${esc(s.id)}" data-testid="retry-${esc(s.id)}">Retry</button>` : "";
      return `<tr data-saga="${esc(s.id)}"><td class="mono" title="${esc(s.id)}">${esc(short(s.id))}</td>` +
        `<td>${esc(ref.service)}</td><td>${esc(s.type)}</td><td>${pill(s.status)}</td>` +
        `<td>${esc(s.step || "")}</td><td class="small">${esc(s.reason || "")}</td>` +
        `<td class="small">${esc(when(s.created_at))}</td>` +
        `<td><button data-view="${esc(ref.service)}/${esc(s.id)}" data-testid="view-${esc(s.id)}">Timeline</button> ${retry}</td></tr>`;
    });
  }

  function sagaTable(list, withRetry, empty) {
    const errors = Object.entries(list.errors || {}).map(([svc, e]) =>
      `<div class="alert">${esc(svc)}: ${esc(e)}</div>`).join("");
    return errors + table(["saga", "service", "type", "status", "step", "reason", "started", ""],
      sagaRows(list, withRetry), empty);
  }

  async function loadAttention() {
    const list = await api("/api/attention");
    $("attention-list").innerHTML = sagaTable(list, true, "Nothing needs attention.");
  }

  async function search(event) {
    if (event) event.preventDefault();
    const params = new URLSearchParams();
    const q = $("search-q").value.trim();
    if (q) params.set("q", q);
    params.set("field", $("search-field").value);
    if ($("search-status").value) params.set("status", $("search-status").value);
    if ($("search-stuck").checked) params.set("stuck", "true");
    try {
      const list = await api("/api/sagas?" + params.toString());
      $("search-results").innerHTML = sagaTable(list, true, "No saga matches.");
    } catch (e) {
      $("search-results").innerHTML = `<div class="alert">${esc(e.message)}</div>`;
    }
  }

  async function showSaga(service, id, scroll) {
    const d = await api(`/api/sagas/${encodeURIComponent(service)}/${encodeURIComponent(id)}`);
    current = { service: service, id: id };
    const s = d.saga;
    $("detail").hidden = false;
    $("detail-title").textContent = s.id;
    const retry = s.status === "failed"
      ? `<div><button class="danger" data-retry="${esc(service)}/${esc(s.id)}" data-testid="detail-retry">Retry</button></div>` : "";
    $("detail-meta").innerHTML =
      `<div><span>type</span>${esc(s.type)}</div><div><span>service</span>${esc(service)}</div>` +
      `<div><span>status</span><b data-testid="detail-status">${pill(s.status)}</b></div>` +
      `<div><span>step</span>${esc(s.step || "")} (${s.step_index})</div>` +
      `<div><span>attempts</span>${s.attempts}</div>` +
      `<div><span>deadline</span>${esc(when(s.deadline) || "none")}</div>` +
      `<div><span>started</span>${esc(when(s.created_at))}</div>` +
      `<div><span>duration</span>${esc(ms(d.timeline.total_ms))}</div>` +
      `<div><span>trace</span><span class="mono small" data-testid="detail-trace">` +
      `${esc(s.trace_id || "none (tracing off)")}</span></div>` +
      (s.reason ? `<div><span>reason</span>${esc(s.reason)}</div>` : "") + retry;
    $("timeline").innerHTML = window.SagaTimeline.render(d.timeline, d.definition);
    const def = d.definition;
    $("detail-definition").innerHTML = def ? `<p class="small muted">${esc(def.description)}</p>` +
      table(["#", "step", "runs on", "command", "compensation", "#reply timeout"], def.steps.map((st) =>
        `<tr><td>${st.index}</td><td>${esc(st.name)}</td><td>${esc(st.service)} ` +
        `<span class="muted small">(${esc(st.kind)})</span></td><td class="mono">${esc(st.command || "")}</td>` +
        `<td>${st.compensation ? pill(st.compensation_command || "local", "warn") : "none"}` +
        `${st.cancel_on_timeout ? " " + pill("pivot: cancelled on timeout", "") : ""}</td>` +
        `<td class="num">${st.timeout_seconds === null ? "" : esc(st.timeout_seconds) + " s"}</td></tr>`), "no steps")
      : `<div class="empty">unknown saga type</div>`;
    $("detail-steps").innerHTML = table(["#", "step", "action", "compensation", "detail", "at"],
      d.timeline.events.map((e) => `<tr><td>${e.index}</td><td>${esc(e.step)}</td><td>${pill(e.action,
        e.action === "completed" ? "ok" : (e.action === "rejected" || e.action === "failed") ? "bad" : "")}</td>` +
        `<td>${e.compensation ? pill("compensation", "warn") : ""}</td><td class="small">${esc(e.detail || "")}</td>` +
        `<td class="small">${esc(when(e.at))}</td></tr>`), "no steps");
    if (scroll !== false) $("detail").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  async function retrySaga(service, id) {
    const ok = await confirmAction("Retry this saga?",
      `${service} saga ${id}\n\nIts failed compensation runs again (its commands re-sent under new message ids).`,
      "Retry");
    if (!ok) return;
    try {
      const result = await api(`/api/sagas/${encodeURIComponent(service)}/${encodeURIComponent(id)}/retry`,
        { method: "POST", body: "{}" });
      toast(result.message, !result.ok);
    } catch (e) { toast(e.message, true); }
    await refresh();
    if (current && current.id === id) await showSaga(service, id, false);
  }

  // -------------------------------------------------------------- dead letters
  async function loadDlqs() {
    const list = await api("/api/dlqs");
    $("dlq-list").innerHTML = table(["dead-letter queue", "#messages", ""], list.map((q) =>
      `<tr data-dlq="${esc(q.name)}"><td class="mono">${esc(q.name)}</td>` +
      `<td class="num" data-testid="dlq-count-${esc(q.name)}">${q.messages ? pill(String(q.messages), "bad") : "0"}</td>` +
      `<td><button data-peek="${esc(q.name)}" ${q.messages ? "" : "disabled"} data-testid="peek-${esc(q.name)}">Peek</button> ` +
      `<button data-replay="${esc(q.name)}" ${q.messages ? "" : "disabled"} data-testid="replay-${esc(q.name)}">Replay…</button></td></tr>`),
    "no dead-letter queues");
  }

  async function peek(name) {
    const data = await api(`/api/dlqs/${encodeURIComponent(name)}/messages?count=10`);
    const box = $("dlq-peek");
    box.hidden = false;
    box.innerHTML = `<div class="section-head"><h3>${esc(name)}: first ${data.messages.length} message(s)</h3>` +
      `<button class="ghost" id="peek-close">Close</button></div>` +
      table(["message", "type", "died", "headers", "payload"], data.messages.map((m) =>
        `<tr><td class="mono">${esc(m.message_id || "–")}</td><td>${esc(m.type || "")}</td>` +
        `<td class="small">${m.death ? `${pill(m.death.reason || "?", "bad")} in <span class="mono">${esc(m.death.queue || "")}</span>` +
          `<br>from ${esc(m.death.exchange || "")}/${esc(m.death.routing_key || "")} ×${esc(m.death.count)}<br>${esc(m.death.time || "")}` : esc(m.error || "")}</td>` +
        `<td><pre>${esc(JSON.stringify(m.headers, null, 1))}</pre></td>` +
        `<td><pre>${esc(typeof m.payload === "string" ? m.payload : JSON.stringify(m.payload, null, 1))}</pre></td></tr>`),
      "empty");
    $("peek-close").addEventListener("click", () => { box.hidden = true; });
  }

  function reportHtml(r) {
    return `<div class="section-head"><h3>${r.dry_run ? "Dry run" : "Replay"}: ${esc(r.queue)}</h3></div>` +
      `<p data-testid="replay-summary">${esc(r.summary)}</p>` +
      table(["outcome", "message", "type", "to", "why"], r.outcomes.map((o) =>
        `<tr><td>${pill(o.action, o.action.includes("keep") || o.action === "kept" ? "bad" : "ok")}</td>` +
        `<td class="mono">${esc(o.message_id || "–")}</td><td>${esc(o.message_type || "")}</td>` +
        `<td class="mono">${esc(o.target || "")}</td><td class="small">${esc(o.why)}</td></tr>`), "no messages");
  }

  async function replay(name) {
    const box = $("dlq-report");
    if (!await confirmAction("Dry run of the replay?",
      `${name}\n\nLists what would go back to its exchange and what would stay. Nothing is moved.`,
      "Run the dry run")) return;
    let dry;
    try {
      dry = await api(`/api/dlqs/${encodeURIComponent(name)}/replay`,
        { method: "POST", body: JSON.stringify({ dry_run: true }) });
    } catch (e) { toast(e.message, true); return; }
    box.hidden = false;
    box.innerHTML = reportHtml(dry);
    if (!dry.moved) { toast("Nothing to replay: " + dry.summary, true); return; }
    if (!await confirmAction("Replay for real?",
      `${name}\n\n${dry.summary}\n\nThe messages go back to the exchange and routing key they were first published with.`,
      "Replay")) return;
    try {
      const done = await api(`/api/dlqs/${encodeURIComponent(name)}/replay`,
        { method: "POST", body: JSON.stringify({ dry_run: false }) });
      box.innerHTML = reportHtml(done);
      toast(done.summary, done.kept > 0);
    } catch (e) { toast(e.message, true); }
    await refresh();
  }

  // --------------------------------------------------------------------- audit
  async function loadAudit() {
    const list = await api("/api/audit");
    $("audit-list").innerHTML = table(["when", "operator", "action", "target", "result"], list.map((a) =>
      `<tr><td class="small">${esc(when(a.at))}</td><td>${esc(a.operator)}</td><td class="mono">${esc(a.action)}</td>` +
      `<td class="mono">${esc(a.target)}</td><td class="small">${esc(a.result)}</td></tr>`), "no actions yet");
  }

  // ---------------------------------------------------------------- wiring
  async function refresh() {
    const jobs = [loadOverview(), loadAttention(), loadDlqs(), loadAudit()];
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) toast(failed.reason.message, true);
  }

  document.addEventListener("click", (event) => {
    const el = event.target.closest("button");
    if (!el) return;
    const split = (v) => { const i = v.indexOf("/"); return [v.slice(0, i), v.slice(i + 1)]; };
    if (el.dataset.view) { const [svc, id] = split(el.dataset.view); showSaga(svc, id).catch((e) => toast(e.message, true)); }
    else if (el.dataset.retry) { const [svc, id] = split(el.dataset.retry); retrySaga(svc, id); }
    else if (el.dataset.peek) { peek(el.dataset.peek).catch((e) => toast(e.message, true)); }
    else if (el.dataset.replay) { replay(el.dataset.replay); }
  });
  $("search-form").addEventListener("submit", search);
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; current = null; });

  async function start() {
    const me = await api("/api/session");
    csrf = me.csrf_token;
    $("operator").textContent = me.operator;
    await refresh();
    await search();
    setInterval(() => {
      if ($("auto-refresh").checked && !$("confirm").open) {
        refresh();
        if (current) showSaga(current.service, current.id, false).catch(() => {});
      }
    }, 5000);
  }
  start().catch((e) => toast(e.message, true));
})();
