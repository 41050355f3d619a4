// The status page (GET /): one self-contained HTML document, no framework, no external assets.
// Its script (status-page.client.js, inlined here) fetches /status every 2 s and renders it with
// DOM calls only, so bundle names and error messages (user input) are always shown as text. The
// Content-Security-Policy allows exactly that inline script (by hash), inline styles and fetches to
// this origin: nothing else can run or load even if some text did end up parsed as markup.
// Besides services, versions and drains it shows each running rollout (weights, per-version counts,
// the last decision and why) and what is suspended.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const SCRIPT = readFileSync(new URL("./status-page.client.js", import.meta.url), "utf8");

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1d2125; --dim: #6b7480; --line: #dde1e6; --card: #f7f8fa;
  --ok: #1a7f37; --info: #0969da; --warn: #9a6700; --bad: #cf222e; --muted: #6b7480; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1216; --fg: #e6e9ed; --dim: #8b949e; --line: #2b3138; --card: #161b22;
  --ok: #3fb950; --info: #58a6ff; --warn: #d29922; --bad: #f85149; --muted: #8b949e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: baseline; gap: 1rem; padding: .8rem 1.2rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.15rem; }
main { padding: 1rem 1.2rem 2rem; max-width: 1200px; }
.live { font-size: .85rem; } .live.ok { color: var(--ok); } .live.bad { color: var(--bad); }
.live::before { content: "● "; }
.summary dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 1rem; }
.summary dt { color: var(--dim); } .summary dd { margin: 0; }
.services { display: grid; gap: 1rem; }
.service { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; }
.service.failed { border-color: var(--bad); }
.service h2 { margin: 0 0 .3rem; font-size: 1.05rem; } .service .name { margin-right: .4rem; }
.facts { margin: 0 0 .5rem; color: var(--dim); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-top: 1px solid var(--line); vertical-align: top; }
th { color: var(--dim); font-weight: 500; font-size: .8rem; border-top: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
.dim { color: var(--dim); } .small { font-size: .8rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .75rem; font-weight: 600; border: 1px solid currentColor; }
.badge.ok { color: var(--ok); } .badge.info { color: var(--info); } .badge.warn { color: var(--warn); }
.badge.bad { color: var(--bad); } .badge.muted { color: var(--muted); }
.error { border-left: 3px solid var(--bad); padding: .4rem .7rem; margin: .5rem 0; background: color-mix(in srgb, var(--bad) 8%, transparent); }
.error pre { white-space: pre-wrap; word-break: break-word; margin: .3rem 0 0; }
.error-line { color: var(--bad); word-break: break-word; }
.conditions { margin: .5rem 0 0; padding-left: 1.2rem; color: var(--dim); }
.service.is-suspended { border-color: var(--warn); }
.suspended { border-left: 3px solid var(--warn); padding: .4rem .7rem; margin: .5rem 0; background: color-mix(in srgb, var(--warn) 8%, transparent); }
.rollout { border-left: 3px solid var(--info); padding: .4rem .7rem; margin: .5rem 0; background: color-mix(in srgb, var(--info) 6%, transparent); }
.rollout .counts { width: auto; margin: .3rem 0; } .rollout .decision { margin-top: .2rem; }
.bar { height: .35rem; max-width: 24rem; margin: .35rem 0; background: var(--line); border-radius: 999px; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--info); }
.trouble { list-style: none; margin: 0; padding: 0; } .trouble li { margin: .2rem 0 .5rem; }
.trouble pre { max-height: 8rem; overflow: auto; }
.history { margin-top: 1.5rem; } .history h2 { font-size: 1rem; }
.empty { color: var(--dim); }
time, td.mono { white-space: nowrap; }
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gridiron status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Gridiron</h1><span id="live" class="live">loading…</span></header>
<main id="app"><noscript>This page needs JavaScript; GET /status has the same data as JSON.</noscript></main>
<script>${SCRIPT}</script>
</body>
</html>
`;

const SCRIPT_HASH = createHash("sha256").update(SCRIPT).digest("base64");

/** The page and the headers to send it with. */
export const STATUS_PAGE = {
  html: HTML,
  headers: {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  },
} as const;
