/**
 * `npx just cluster-status`: who does what in the local cluster (scripts/cluster-up.ts): each
 * Gridiron process's role, the registrar lock, and the versions each node serves, per service.
 *
 *   node --import tsx scripts/cluster-status.ts [--json] [--apis http://127.0.0.1:8081,...]
 */
import { parseArgs } from "node:util";
import { HttpClient } from "../reconciler/core/http-client.ts";
import type { Status } from "../reconciler/reconcile/status.ts";

const { values } = parseArgs({ options: { json: { type: "boolean" }, apis: { type: "string", default: "http://127.0.0.1:8081,http://127.0.0.1:8181,http://127.0.0.1:8281" } } });
const http = new HttpClient();
const rows: { api: string; status?: Status; error?: string }[] = [];
for (const api of values.apis!.split(",")) {
  try {
    const r = await http.request(`${api}/status`, { timeoutMs: 3000 });
    rows.push(r.status === 200 ? { api, status: JSON.parse(r.text) as Status } : { api, error: `HTTP ${r.status}` });
  } catch (err) {
    rows.push({ api, error: (err as Error).message });
  }
}
http.close();
if (values.json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  for (const { api, status, error } of rows) {
    if (!status) {
      console.log(`${api}  DOWN (${error})`);
      continue;
    }
    const c = status.cluster ?? { role: "all" };
    const lock = c.lock ? `  lock ${c.lock.held ? "HELD" : "standby"}${c.lock.holder ? ` (holder ${c.lock.holder})` : ""}` : "";
    console.log(`${api}  ${c.role}${lock}${c.waiting?.length ? `  waiting for nodes: ${c.waiting.join(", ")}` : ""}`);
    if (c.role !== "registrar") {
      for (const cell of status.workerd.cells ?? []) if (cell.versions.length) console.log(`  cell ${cell.index} (pid ${cell.pid ?? "-"}): ${cell.versions.join(", ")}`);
    } else {
      for (const s of status.services) console.log(`  ${s.service}: serving ${s.serving ?? "-"}${s.desired && s.desired !== s.serving ? `, desired ${s.desired}` : ""}`);
    }
  }
}
process.exitCode = rows.some((r) => !r.status) ? 3 : 0;
