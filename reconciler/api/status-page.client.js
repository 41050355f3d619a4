// The status page's script (inlined into GET / by status-page.ts; runs in the browser). It fetches
// /status every 2 s and renders it with DOM calls only: every value is set as text or as an
// attribute, never parsed as HTML, because bundle names and error messages come from users.
"use strict";
(() => {
  const REFRESH_MS = 2000;
  const app = document.getElementById("app");
  const live = document.getElementById("live");
  let last = null;
  let lastAt = 0;

  // When the API wants a bearer token, open the page as /#token=<token>: it is kept for this tab
  // (sessionStorage), dropped from the address bar, and sent with every fetch of /status.
  const TOKEN_KEY = "gridiron-api-token";
  const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fromHash[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = sessionStorage.getItem(TOKEN_KEY);

  /** h("tr", {class: "x"}, "text", child, [more]) — strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      el.setAttribute(k, String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function ago(iso) {
    const t = Date.parse(iso);
    if (!Number.isFinite(t)) return "";
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  function until(iso) {
    const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
    return !Number.isFinite(s) ? "" : s <= 0 ? "now" : s < 120 ? `in ${s} s` : `in ${Math.round(s / 60)} min`;
  }
  const time = (iso) => (iso ? h("time", { datetime: iso, title: iso }, ago(iso)) : "");
  const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);
  const STATE_KIND = { serving: "ok", draining: "warn", stuck: "bad", stored: "muted", failed: "bad", unservable: "bad" };
  const CONDITION_KIND = { Ready: "ok", Progressing: "info", Draining: "warn", Failed: "bad", Degraded: "bad" };
  const OUTCOME_KIND = { ok: "ok", noop: "muted", partial: "warn", error: "bad" };
  const TROUBLE_KIND = { retrying: "bad", paused: "warn", blocking: "warn" };
  const DECISION_KIND = { hold: "info", advance: "ok", done: "ok", abort: "bad", aborted: "bad" };
  const COUNTS = ["started", "completed", "failed", "retrying", "paused"];

  // A suspension in force: since when, who asked and why (as they said).
  const suspensionText = (x) => [" since ", time(x.since), x.by ? ` by ${x.by}` : "", x.reason ? `: ${x.reason}` : ""];

  function header(s) {
    const r = s.lastReconcile;
    // The revision test is revisionIsInformative's (reconciler/source/source.ts), which a page script cannot import.
    const rows = [
      ["source", [`${s.source.kind} ${s.source.location}`, s.source.revision && s.source.revision !== `folder:${s.source.location}` ? h("span", { class: "mono dim" }, ` @ ${s.source.revision}`) : ""]],
      ["restate", [`ingress ${s.restate.ingressUrl}  ·  admin ${s.restate.adminUrl}`]],
      ["workerd", [`${s.workerd.url}  ·  pid ${s.workerd.pid ?? "–"}  ·  generation ${s.workerd.generation}`]],
      ...(s.workerd.cells || []).filter((c) => c.pid !== undefined || c.versions.length > 0).map((c) => [`${c.lane ? "lane" : "cell"} ${c.index}`, [
        h("span", { class: "mono", "data-cell": String(c.index) }, `${c.url}  ·  pid ${c.pid ?? "–"}  ·  generation ${c.generation}`),
        c.health ? h("div", { class: "mono dim small", "data-cell-health": String(c.index) },
          `rss ${c.health.rssBytes === undefined ? "–" : `${Math.round(c.health.rssBytes / 1048576)} MB`}  ·  cpu ${c.health.cpuSeconds === undefined ? "–" : `${c.health.cpuSeconds.toFixed(1)} s`}` +
          `  ·  limits ${c.health.limits.hangMs} ms / ${c.health.limits.memoryMb} MB  ·  restarts: hang ${c.health.restarts.hang}, memory ${c.health.restarts.memory}, crash ${c.health.restarts.crash}` +
          (c.health.lastEvent ? `  ·  last: ${c.health.lastEvent.kind} at ${c.health.lastEvent.at}` : "")) : null,
        c.versions.length ? h("div", { class: "mono dim small" }, c.versions.join(", ")) : h("div", { class: "dim small" }, "empty"),
      ]]),
      ["last reconcile", r ? [`#${r.id} `, badge(r.outcome, OUTCOME_KIND[r.outcome] || "muted"), ` in ${r.durationMs} ms, `, time(r.startedAt), ` (${r.trigger})`] : ["none yet"]],
    ];
    return h("section", { class: "summary" },
      h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      s.suspended ? h("div", { class: "suspended", id: "mesh-suspended" }, h("strong", {}, "The whole mesh is suspended"), suspensionText(s.suspended),
        h("div", { class: "small dim" }, "passes observe and change nothing until ", h("code", { class: "mono" }, "gridiron resume"))) : null,
      s.source.error ? h("div", { class: "error", id: "source-error" }, h("strong", {}, "source error: "), s.source.error) : null,
      s.troubleCheck && s.troubleCheck.error ? h("div", { class: "error", id: "trouble-error" }, h("strong", {}, "invocations: "), s.troubleCheck.error) : null,
    );
  }

  function versionRow(v) {
    const drain = v.blocking !== undefined
      ? [h("span", { class: "drain-count" }, String(v.blocking)), v.invocations && v.invocations.length ? h("div", { class: "mono dim small" }, v.invocations.join(", ")) : null]
      : "";
    return h("tr", { "data-version": v.version, "data-state": v.state },
      h("td", {}, badge(v.state, STATE_KIND[v.state] || "muted")),
      h("td", { class: "mono" }, v.version),
      h("td", {}, (v.restateServices || []).join(", ")),
      h("td", { class: "num" }, drain),
      h("td", {}, time(v.registeredAt || v.storedAt)),
      h("td", { class: "reason" }, v.reason || ""),
    );
  }

  // Invocations that need a human, under their version: what fails, the error, and the command that ends it.
  function troubleRow(v) {
    if (!v.trouble || !v.trouble.length) return null;
    return h("tr", { class: "trouble-row", "data-trouble-for": v.version },
      h("td", { colspan: "6" }, h("ul", { class: "trouble" }, v.trouble.map((t) => {
        const e = t.lastError;
        const progress = t.state === "retrying"
          ? `attempt ${t.attempts ?? "?"} failed${t.nextRetryAt && t.status === "backing-off" ? `, next retry ${until(t.nextRetryAt)}` : ""}`
          : t.state === "paused" ? `paused after ${t.attempts ?? "?"} attempts` : `${t.status}, still needs this version`;
        return h("li", { "data-invocation": t.id },
          badge(t.state, TROUBLE_KIND[t.state] || "muted"), " ", h("span", { class: "mono" }, t.id), " ", h("span", { class: "mono" }, t.target), h("span", { class: "dim" }, `  ${progress}`),
          e ? h("div", { class: "error" }, h("strong", {}, e.message), e.entry ? h("span", { class: "dim" }, ` (in ${e.entry})`) : "", e.stack ? h("pre", { class: "small" }, e.stack) : null) : null,
          t.resolve && t.resolve.length ? h("div", { class: "small" }, "resolve: ", t.resolve.map((c, i) => [i ? "  or  " : "", h("code", { class: "mono" }, c)])) : null);
      }))));
  }

  // A progressive rollout: old → new, the new version's share and step, per-version counts of the
  // step's invocations (from Restate), and the last decision with its reason.
  function rolloutView(svc) {
    const r = svc.rollout;
    if (!r) return null;
    const step = r.steps.indexOf(r.weight);
    const share = { old: 100 - r.weight, new: r.weight };
    const frozen = svc.suspended && r.decision !== "done" && r.decision !== "aborted";
    return h("div", { class: "rollout", "data-rollout": r.decision },
      h("div", {},
        h("strong", {}, "rollout "), h("span", { class: "mono" }, r.from), " → ", h("span", { class: "mono" }, r.to), "  ",
        h("span", { "data-rollout-weight": String(r.weight) }, `${r.weight}% of new calls`),
        h("span", { class: "dim" }, step >= 0 ? `  ·  step ${step + 1} of ${r.steps.length} (${r.steps.join(" → ")}%)` : `  ·  steps ${r.steps.join(" → ")}%`),
        r.since ? h("span", { class: "dim" }, "  ·  step began ", time(r.since)) : null),
      h("div", { class: "bar", title: `${r.weight}%` }, h("span", { style: `width: ${Math.max(0, Math.min(100, r.weight))}%` })),
      h("table", { class: "counts" },
        h("thead", {}, h("tr", {}, ["", "version", "share", ...COUNTS].map((t, i) => h("th", { class: i > 1 ? "num" : null }, t)))),
        h("tbody", {}, ["old", "new"].map((side) => h("tr", { "data-rollout-side": side },
          h("td", { class: "dim" }, side),
          h("td", { class: "mono" }, side === "old" ? r.from : r.to),
          h("td", { class: "num" }, `${share[side]}%`),
          COUNTS.map((k) => h("td", { class: "num", "data-count": k }, String((r.counts[side] || {})[k] ?? 0))))))),
      h("div", { class: "decision" }, badge(r.decision, DECISION_KIND[r.decision] || "muted"), " ", h("span", { class: "reason" }, r.reason), h("span", { class: "dim" }, " — ", time(r.at))),
      frozen ? h("div", { class: "small", "data-rollout-frozen": "" }, `frozen at ${r.weight}% while suspended: not judged, not advanced, not aborted`) : null,
    );
  }

  function serviceCard(svc) {
    const trueConditions = svc.conditions.filter((c) => c.status);
    const sus = svc.suspended;
    return h("section", { class: `service${svc.error ? " failed" : ""}${sus ? " is-suspended" : ""}`, "data-service": svc.service },
      h("h2", {}, h("span", { class: "name" }, svc.service), " ",
        sus ? [badge("Suspended", "warn"), " "] : null,
        trueConditions.length ? trueConditions.map((c) => [badge(c.type, CONDITION_KIND[c.type] || "muted"), " "]) : sus ? null : badge("no conditions", "muted")),
      h("p", { class: "facts" },
        svc.serving ? ["serving ", h("span", { class: "mono" }, svc.serving)] : "nothing serving",
        svc.desired && svc.desired !== svc.serving ? ["  ·  desired ", h("span", { class: "mono" }, svc.desired)] : null,
        svc.pinned ? ["  ·  rollback pin ", h("span", { class: "mono" }, svc.pinned)] : null,
      ),
      sus ? h("div", { class: "suspended", "data-suspended": sus.scope },
        h("strong", {}, sus.scope === "mesh" ? "suspended with the whole mesh" : "suspended"), suspensionText(sus),
        h("div", { class: "small dim" }, "Gridiron changes nothing of it until ", h("code", { class: "mono" }, sus.scope === "mesh" ? "gridiron resume" : `gridiron resume ${svc.service}`))) : null,
      rolloutView(svc),
      svc.error ? h("div", { class: "error" }, h("strong", {}, svc.error.code), " since ", time(svc.error.since), h("pre", {}, svc.error.message)) : null,
      svc.versions.length
        ? h("table", { class: "versions" },
          h("thead", {}, h("tr", {}, ["state", "version", "Restate services", "drain", "since", "details"].map((t) => h("th", {}, t)))),
          h("tbody", {}, svc.versions.map((v) => [versionRow(v), troubleRow(v)])))
        : h("p", { class: "dim" }, "no versions"),
      trueConditions.length
        ? h("ul", { class: "conditions" }, trueConditions.map((c) =>
          h("li", {}, h("strong", {}, c.type), c.reason ? ` (${c.reason})` : "",
            // The Failed message is the error shown above.
            c.message && c.type !== "Failed" ? `: ${c.message}` : "", " — since ", time(c.since))))
        : null,
    );
  }

  function history(list) {
    if (!list.length) return null;
    return h("section", { class: "history" },
      h("h2", {}, "Recent reconciles"),
      h("table", {},
        h("thead", {}, h("tr", {}, ["#", "started", "trigger", "outcome", "ms", "what", "errors"].map((t) => h("th", {}, t)))),
        h("tbody", {}, list.map((r) => h("tr", { "data-pass": r.id },
          h("td", { class: "num" }, String(r.id)),
          h("td", {}, time(r.startedAt)),
          h("td", {}, r.trigger),
          h("td", {}, badge(r.outcome, OUTCOME_KIND[r.outcome] || "muted")),
          h("td", { class: "num" }, String(r.durationMs)),
          h("td", { class: "small" },
            r.deployed.length ? `deployed ${r.deployed.map((d) => `${d.service}/${d.version}`).join(", ")}` : r.actions.length ? r.actions.map((a) => `${a.type} ${a.service}/${a.version}`).join(", ") : ""),
          h("td", { class: "small" }, r.errors.map((e) => h("div", { class: "error-line" }, h("strong", {}, e.code), " ", e.message))),
        ))),
      ),
    );
  }

  function render(s) {
    const services = s.services.length
      ? s.services.map(serviceCard)
      : [h("p", { class: "empty" }, "No services yet: put a bundle into the bundles folder (npx just deploy-demo).")];
    app.replaceChildren(header(s), h("div", { class: "services" }, services), history(s.history || []) || "");
  }

  function setLive(ok, text) {
    live.className = ok ? "live ok" : "live bad";
    live.textContent = text;
  }

  async function refresh() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 5000);
    try {
      const headers = { accept: "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch("status", { cache: "no-store", signal: ctl.signal, headers });
      if (res.status === 401) throw new Error("the API wants a token: open this page as /#token=<the token in <data-dir>/api-token>");
      if (!res.ok) throw new Error(`GET /status answered ${res.status}`);
      last = await res.json();
      lastAt = Date.now();
      render(last);
      setLive(true, `live · updated ${new Date(lastAt).toLocaleTimeString()}`);
    } catch (err) {
      const why = err && err.name === "AbortError" ? "timed out" : String((err && err.message) || err);
      setLive(false, `cannot reach /status (${why})${last ? ` · showing data from ${new Date(lastAt).toLocaleTimeString()}` : ""}`);
    } finally {
      clearTimeout(timer);
      setTimeout(refresh, REFRESH_MS);
    }
  }
  refresh();
})();
