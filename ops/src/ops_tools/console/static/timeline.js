"use strict";
/* A saga's timeline as an SVG picture: one lane per service (vertical), time going
   down, each step's command and reply as arrows between lanes, local steps as marks on
   the initiator's lane, compensations in their own colour, and the deadline. */
window.SagaTimeline = (function () {
  const COLORS = { fwd: "#2f6fde", comp: "#e8590c", bad: "#c92a2a", ok: "#2b8a3e", ink: "#1d2533",
    muted: "#6b7587", line: "#d5dbe5" };
  const BAD = new Set(["rejected", "failed"]);

  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function ms(value) {
    if (value === null || value === undefined) return "";
    if (value >= 10000) return (value / 1000).toFixed(1) + " s";
    return Math.round(value) + " ms";
  }

  function colorOf(ev) {
    if (BAD.has(ev.action)) return COLORS.bad;
    return ev.compensation ? COLORS.comp : COLORS.fwd;
  }

  function render(timeline, definition) {
    const lanes = timeline.lanes;
    const events = timeline.events;
    const left = 120, laneGap = 380, top = 70, row = 54;
    const width = left + laneGap * (lanes.length - 1) + 360;
    const laneX = {};
    lanes.forEach((lane, i) => { laneX[lane] = left + 110 + i * laneGap; });
    const bottom = top + Math.max(events.length, 1) * row + 40;
    const height = bottom + 30;
    const parts = [];
    parts.push(`<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" ` +
      `aria-label="saga timeline" data-testid="timeline-svg">`);
    parts.push(`<defs>` +
      ["fwd", "comp", "bad"].map((k) => `<marker id="arrow-${k}" viewBox="0 0 10 10" refX="9" refY="5" ` +
        `markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" ` +
        `fill="${COLORS[k]}"/></marker>`).join("") + `</defs>`);
    // lanes
    lanes.forEach((lane) => {
      const x = laneX[lane];
      const initiator = lane === timeline.initiator;
      parts.push(`<g class="tl-lane" data-lane="${esc(lane)}">` +
        `<rect x="${x - 70}" y="14" width="140" height="34" rx="7" fill="${initiator ? "#121a2a" : "#ffffff"}" ` +
        `stroke="#121a2a"/>` +
        `<text x="${x}" y="36" text-anchor="middle" font-size="14" font-weight="600" ` +
        `fill="${initiator ? "#ffffff" : COLORS.ink}">${esc(lane)}</text>` +
        `<text x="${x}" y="62" text-anchor="middle" font-size="10" fill="${COLORS.muted}">` +
        `${initiator ? "initiator" : "participant"}</text>` +
        `<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="${COLORS.line}" stroke-width="2" ` +
        `stroke-dasharray="2 4"/></g>`);
    });
    parts.push(`<text x="12" y="36" font-size="11" fill="${COLORS.muted}">since start</text>`);
    // the deadline: between the events it falls between (by time), or below them all
    if (timeline.deadline_ms !== null && timeline.deadline_ms !== undefined) {
      let y = bottom - 14;
      for (let i = 0; i < events.length; i++) {
        if (events[i].offset_ms > timeline.deadline_ms) { y = top + i * row + 8; break; }
      }
      parts.push(`<g class="tl-deadline" data-testid="timeline-deadline">` +
        `<line x1="${left - 10}" y1="${y}" x2="${width - 20}" y2="${y}" stroke="${COLORS.bad}" ` +
        `stroke-width="1.5" stroke-dasharray="6 4"/>` +
        `<text x="${width - 24}" y="${y - 5}" text-anchor="end" font-size="11" fill="${COLORS.bad}">` +
        `deadline +${esc(ms(timeline.deadline_ms))}</text></g>`);
    }
    // each command's deadline, where it passed before the saga's last entry: a short
    // dashed line across the lanes, just above the first entry logged after it
    const laneXs = lanes.map((lane) => laneX[lane]);
    const minX = Math.min(...laneXs), maxX = Math.max(...laneXs);
    events.forEach((ev) => {
      if (ev.kind !== "command" || ev.reply_due_ms === null || ev.reply_due_ms === undefined) return;
      const after = events.findIndex((other) => other.offset_ms > ev.reply_due_ms);
      if (after < 0) return;
      const y = top + after * row + 4;
      parts.push(`<g class="tl-step-deadline" data-step="${esc(ev.step)}">` +
        `<line x1="${minX - 30}" y1="${y}" x2="${maxX + 30}" y2="${y}" stroke="${COLORS.bad}" ` +
        `stroke-width="1" stroke-dasharray="3 3" opacity="0.7"/>` +
        `<text x="${maxX + 34}" y="${y + 3}" font-size="10" fill="${COLORS.bad}">` +
        `${esc(ev.message || ev.step)} reply due +${esc(ms(ev.reply_due_ms))}</text></g>`);
    });
    // events
    events.forEach((ev, i) => {
      const y = top + i * row + row / 2 + 6;
      const color = colorOf(ev);
      const key = BAD.has(ev.action) ? "bad" : (ev.compensation ? "comp" : "fwd");
      const attrs = `class="tl-event" data-step="${esc(ev.step)}" data-action="${esc(ev.action)}" ` +
        `data-kind="${esc(ev.kind)}" data-compensation="${ev.compensation}" ` +
        `data-service="${esc(ev.handled_by)}"`;
      const title = `<title>${esc(ev.step)} ${esc(ev.action)}${ev.compensation ? " (compensation)" : ""}` +
        ` at ${esc(ev.at)}${ev.detail ? "\n" + esc(ev.detail) : ""}</title>`;
      const when = `<text x="12" y="${y + 4}" font-size="11" fill="${COLORS.muted}">+${esc(ms(ev.offset_ms))}</text>`;
      const label = `${ev.step} · ${ev.action}${ev.compensation ? " (compensation)" : ""}`;
      const dur = ev.duration_ms !== null && ev.duration_ms !== undefined ? ` · ${ms(ev.duration_ms)}` : "";
      if (ev.kind === "timeout") {
        const x = laneX[ev.source];
        parts.push(`<g ${attrs}>${title}${when}` +
          `<circle cx="${x}" cy="${y}" r="10" fill="#ffffff" stroke="${color}" stroke-width="2"/>` +
          `<path d="M${x - 4},${y - 4} L${x + 4},${y + 4} M${x + 4},${y - 4} L${x - 4},${y + 4}" ` +
          `stroke="${color}" stroke-width="2"/>` +
          `<text x="${x + 18}" y="${y - 2}" font-size="12" font-weight="600" fill="${COLORS.bad}">` +
          `${esc(ev.step)} · deadline passed, ${esc(ev.action)}</text>` +
          `<text x="${x + 18}" y="${y + 13}" font-size="11" fill="${COLORS.muted}">${esc(ev.detail || "")}</text></g>`);
        return;
      }
      if (ev.kind === "local") {
        const x = laneX[ev.source];
        parts.push(`<g ${attrs}>${title}${when}` +
          `<rect x="${x - 9}" y="${y - 9}" width="18" height="18" rx="4" fill="${color}"/>` +
          `<text x="${x + 18}" y="${y - 2}" font-size="12" font-weight="600" fill="${COLORS.ink}">${esc(label)}</text>` +
          `<text x="${x + 18}" y="${y + 13}" font-size="11" fill="${COLORS.muted}">local step on ${esc(ev.handled_by)}` +
          `${esc(dur)}${ev.detail ? " · " + esc(ev.detail.slice(0, 60)) : ""}</text></g>`);
      } else {
        const x1 = laneX[ev.source], x2 = laneX[ev.target];
        const dir = x2 >= x1 ? 1 : -1;
        const mid = (x1 + x2) / 2;
        const dash = ev.kind === "reply" ? ` stroke-dasharray="7 4"` : "";
        const due = ev.reply_due_ms !== null && ev.reply_due_ms !== undefined
          ? ` · reply due +${ms(ev.reply_due_ms)}` : "";
        parts.push(`<g ${attrs}>${title}${when}` +
          `<circle cx="${x1}" cy="${y}" r="4" fill="${color}"/>` +
          `<line x1="${x1 + dir * 5}" y1="${y}" x2="${x2 - dir * 4}" y2="${y}" stroke="${color}" ` +
          `stroke-width="2.2"${dash} marker-end="url(#arrow-${key})"/>` +
          `<text x="${mid}" y="${y - 8}" text-anchor="middle" font-size="12" font-weight="600" ` +
          `fill="${COLORS.ink}">${esc(label)}</text>` +
          `<text x="${mid}" y="${y + 16}" text-anchor="middle" font-size="11" fill="${COLORS.muted}">` +
          `${esc(ev.kind === "command" ? (ev.message || "command") + " → handled by " + ev.handled_by
            : "reply from " + ev.handled_by)}${esc(dur)}${esc(due)}</text></g>`);
      }
    });
    if (!events.length) {
      parts.push(`<text x="${left}" y="${top + 30}" font-size="12" fill="${COLORS.muted}">no steps logged yet</text>`);
    }
    parts.push(`</svg>`);
    return parts.join("");
  }

  return { render: render, esc: esc, ms: ms };
})();
