// The load generator: autocannon's programmatic API with a fixed number of connections, either
// flat out for a fixed duration (throughput) or at a fixed overall rate (steady client load).
// Results are reduced to the figures the report prints; connection errors keep their time and
// message so they can be lined up with deploys.
import autocannon, { type AutocannonRequest, type AutocannonResult } from "autocannon";

export interface LoadSpec {
  /** Restate ingress base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Path of each request; called per request, so it can pick a random key. */
  path: () => string;
  /** Default POST. */
  method?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Request body, or none; sent as application/json unless `headers` give another content-type. */
  body?: string | Buffer;
  connections: number;
  /** Seconds; for open-ended runs (startLoad) an upper bound. */
  durationS: number;
  /** Requests per second over all connections; unset = as fast as the server answers. */
  rate?: number;
  /** A 2xx answer whose body fails this counts as a mismatch. */
  verify?: (body: string) => boolean;
  /** Seconds before a request counts as timed out. */
  timeoutS?: number;
}

export interface LoadResult {
  /** Completed requests (any status). */
  requests: number;
  /** 2xx answers whose body passed `verify`. */
  ok: number;
  /** Seconds the run lasted. */
  seconds: number;
  /** Successful answers per second (failures are not throughput). */
  rps: number;
  /** Latency of 2xx answers, ms (autocannon corrects for coordinated omission when rate is set). */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  /** Non-2xx status codes seen, with counts. */
  statusCodes: Record<string, number>;
  /** First few connection errors / non-2xx, with the time they happened (ms since epoch). */
  samples: { at: number; what: string }[];
  /** All failures (errors, non-2xx, mismatches) with their time. */
  failureTimes: number[];
}

export interface RunningLoad {
  /** Stops sending; resolves with the result of the whole run. */
  stop(): Promise<LoadResult>;
  done: Promise<LoadResult>;
}

const MAX_SAMPLES = 10;

export function startLoad(spec: LoadSpec): RunningLoad {
  const request: AutocannonRequest = {
    method: spec.method ?? "POST",
    headers: { ...(spec.body === undefined ? {} : { "content-type": "application/json" }), ...spec.headers },
    ...(spec.body === undefined ? {} : { body: spec.body }),
    setupRequest: (req) => ({ ...req, path: spec.path() }),
  };
  const samples: { at: number; what: string }[] = [];
  const failureTimes: number[] = [];
  const note = (what: string) => {
    failureTimes.push(Date.now());
    if (samples.length < MAX_SAMPLES) samples.push({ at: Date.now(), what });
  };
  let resolveDone!: (r: LoadResult) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<LoadResult>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  const instance = autocannon(
    {
      url: spec.url,
      connections: spec.connections,
      duration: spec.durationS,
      timeout: spec.timeoutS ?? 10,
      requests: [request],
      ...(spec.rate ? { overallRate: spec.rate } : {}),
      ...(spec.verify ? { verifyBody: spec.verify } : {}),
    },
    (err, result) => (err ? rejectDone(err) : resolveDone(reduce(result, samples, failureTimes))),
  );
  instance.on("reqError", (e) => note(`error: ${e.message}`));
  instance.on("response", (_client, status) => {
    if (status < 200 || status > 299) note(`HTTP ${status}`);
  });
  instance.on("reqMismatch", (body) => note(`mismatch: ${body.slice(0, 120)}`));
  return {
    done,
    stop() {
      instance.stop();
      return done;
    },
  };
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return startLoad(spec).done;
}

function reduce(r: AutocannonResult, samples: LoadResult["samples"], failureTimes: number[]): LoadResult {
  const seconds = (new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000;
  const requests = r.requests.total ?? 0;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) if (!code.startsWith("2")) statusCodes[code] = count;
  const ok = Math.max(0, r["2xx"] - r.mismatches);
  return {
    requests,
    ok,
    seconds,
    rps: seconds > 0 ? ok / seconds : 0,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    mean: r.latency.mean,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    mismatches: r.mismatches,
    statusCodes,
    samples,
    failureTimes,
  };
}
