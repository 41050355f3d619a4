// A bundle's optional manifest: gridiron.json (ours, strict) or a wrangler.toml / wrangler.json
// placed next to wrangler's --outdir output (only the keys that change how the code runs are read).
import { parse as parseToml } from "smol-toml";
import { bundleError } from "../core/errors.ts";

export const MANIFEST_FILE = "gridiron.json";
export const WRANGLER_FILES = ["wrangler.toml", "wrangler.json"] as const;

/**
 * The Restate SDK needs nodejs_compat, which workerd turns on by default from 2026-08-04 (and
 * warns when it is also listed), so the default date alone runs a wrangler-built bundle as is.
 */
export const DEFAULT_COMPATIBILITY_DATE = "2026-11-01";
export const DEFAULT_COMPATIBILITY_FLAGS: readonly string[] = [];

export interface Manifest {
  name?: string;
  version?: string;
  main?: string;
  compatibilityDate?: string;
  compatibilityFlags?: string[];
  vars?: Record<string, string>;
  /** Opt-in for a registration that Restate considers breaking (a removed service or handler). */
  breaking?: boolean;
  /** What the service needs of its cell's watchdog; bounded by the node's maximums. */
  limits?: RunLimits;
  /** A progressive rollout for new versions of this service (absent: a new version takes every new call at once). */
  rollout?: RolloutPolicy;
}

/**
 * How a new version is ramped (reconcile/rollouts.ts): each step sends `steps[i]` percent of new
 * invocations to it for at least `stepSeconds`, judged on Restate's own data; the last step is
 * always 100. A step's new version fails when more than `maxFailureRatio` of its invocations fail
 * (or any is paused), once `minInvocations` have started.
 */
export interface RolloutPolicy {
  steps: number[];
  stepSeconds: number;
  maxFailureRatio: number;
  minInvocations: number;
  /** On abort, move the new version's retrying and paused invocations onto the old one (default true). */
  moveOnAbort?: boolean;
}

export const ROLLOUT_EXAMPLE = '{"steps": [10, 50, 100], "stepSeconds": 60, "maxFailureRatio": 0.02, "minInvocations": 20}';

/**
 * The watchdog limits a service declares (docs/reliability.md): how long its cell's JS thread may
 * stay busy before the cell is replaced, and how much resident memory the cell may use.
 */
export interface RunLimits {
  hangMs?: number;
  memoryMb?: number;
}

/** What a manifest may declare at all; the node's --cell-*-max options bound it further. */
export const RUN_LIMIT_RANGES: Record<keyof RunLimits, { min: number; max: number; unit: string }> = {
  hangMs: { min: 500, max: 300_000, unit: "ms" },
  memoryMb: { min: 32, max: 65_536, unit: "MB" },
};

const DATE_RE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const FLAG_RE = /^[a-z0-9_]{1,64}$/;
const VAR_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const RESERVED_VARS = new Set(["__proto__", "constructor", "prototype"]);

type Check = (bundle: string, file: string, key: string, value: unknown) => void;

function fail(bundle: string, file: string, message: string): never {
  throw bundleError(bundle, `${file}: ${message}`, { file });
}

const str: Check = (b, f, k, v) => {
  if (typeof v !== "string" || v.length === 0) fail(b, f, `"${k}" must be a non-empty string, got ${JSON.stringify(v)}`);
};
const date: Check = (b, f, k, v) => {
  str(b, f, k, v);
  if (!DATE_RE.test(v as string)) fail(b, f, `"${k}" must be a date like 2026-11-01, got ${JSON.stringify(v)}`);
};
const flags: Check = (b, f, k, v) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || !FLAG_RE.test(x))) {
    fail(b, f, `"${k}" must be an array of flag names like "nodejs_compat", got ${JSON.stringify(v)}`);
  }
};
const vars: Check = (b, f, k, v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(b, f, `"${k}" must be an object of string values`);
  for (const [name, value] of Object.entries(v as object)) {
    if (!VAR_RE.test(name) || RESERVED_VARS.has(name)) fail(b, f, `"${k}" has an invalid variable name ${JSON.stringify(name)}`);
    if (typeof value !== "string") fail(b, f, `"${k}.${name}" must be a string, got ${JSON.stringify(value)}`);
  }
};
const bool: Check = (b, f, k, v) => {
  if (typeof v !== "boolean") fail(b, f, `"${k}" must be true or false, got ${JSON.stringify(v)}`);
};

const limits: Check = (b, f, k, v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(b, f, `"${k}" must be an object like {"hangMs": 10000, "memoryMb": 512}, got ${JSON.stringify(v)}`);
  for (const [name, value] of Object.entries(v as object)) {
    const range = Object.hasOwn(RUN_LIMIT_RANGES, name) ? RUN_LIMIT_RANGES[name as keyof RunLimits] : undefined;
    if (!range) fail(b, f, `"${k}" has an unknown key "${name}" (allowed: ${Object.keys(RUN_LIMIT_RANGES).join(", ")})`);
    if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max) {
      fail(b, f, `"${k}.${name}" must be a whole number of ${range.unit} from ${range.min} to ${range.max}, got ${JSON.stringify(value)}`);
    }
  }
};

const ROLLOUT_KEYS = ["steps", "stepSeconds", "maxFailureRatio", "minInvocations", "moveOnAbort"];

const rollout: Check = (b, f, k, v) => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(b, f, `"${k}" must be an object like ${ROLLOUT_EXAMPLE}, got ${JSON.stringify(v)}`);
  const r = v as Record<string, unknown>;
  for (const name of Object.keys(r)) if (!ROLLOUT_KEYS.includes(name)) fail(b, f, `"${k}" has an unknown key "${name}" (allowed: ${ROLLOUT_KEYS.join(", ")})`);
  for (const name of ROLLOUT_KEYS.slice(0, 4)) if (!Object.hasOwn(r, name)) fail(b, f, `"${k}.${name}" is missing (a rollout looks like ${ROLLOUT_EXAMPLE})`);
  const steps = r.steps;
  if (!Array.isArray(steps) || steps.length === 0 || steps.some((x) => typeof x !== "number" || !Number.isInteger(x) || x < 1 || x > 100)) {
    fail(b, f, `"${k}.steps" must be a list of whole percentages from 1 to 100, like [10, 50, 100], got ${JSON.stringify(steps)}`);
  }
  if ((steps as number[]).some((x, i) => i > 0 && x <= (steps as number[])[i - 1]!)) fail(b, f, `"${k}.steps" must increase, got ${JSON.stringify(steps)}`);
  const whole = (name: string, min: number, max: number, unit: string) => {
    const x = r[name];
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) fail(b, f, `"${k}.${name}" must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(x)}`);
  };
  whole("stepSeconds", 1, 86_400, "seconds");
  whole("minInvocations", 1, 1_000_000, "invocations");
  const ratio = r.maxFailureRatio;
  if (typeof ratio !== "number" || !(ratio >= 0 && ratio <= 1)) fail(b, f, `"${k}.maxFailureRatio" must be a number from 0 to 1 (0.02 is 2%), got ${JSON.stringify(ratio)}`);
  if (r.moveOnAbort !== undefined) bool(b, f, `${k}.moveOnAbort`, r.moveOnAbort);
};

const GRIDIRON_KEYS: Record<keyof Manifest, Check> = {
  name: str,
  version: str,
  main: str,
  compatibilityDate: date,
  compatibilityFlags: flags,
  vars,
  breaking: bool,
  limits,
  rollout,
};

function parseJsonObject(bundle: string, file: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(bundle, file, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(bundle, file, "must be a JSON object");
  return value as Record<string, unknown>;
}

/** Parses gridiron.json strictly: unknown keys are errors, so a typo never silently does nothing. */
export function parseGridironManifest(bundle: string, text: string): Manifest {
  const raw = parseJsonObject(bundle, MANIFEST_FILE, text);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // hasOwn: keys such as "toString" or "__proto__" must not find Object.prototype's members.
    const check = Object.hasOwn(GRIDIRON_KEYS, key) ? GRIDIRON_KEYS[key as keyof Manifest] : undefined;
    if (!check) {
      fail(bundle, MANIFEST_FILE, `unknown key "${key}" (allowed: ${Object.keys(GRIDIRON_KEYS).join(", ")})`);
    }
    check(bundle, MANIFEST_FILE, key, value);
    out[key] = value;
  }
  return out as Manifest;
}

/**
 * Reads the runtime-relevant part of a wrangler config. `main` and `name` are deliberately not
 * taken: wrangler's `main` names the source entry (src/index.ts), not the built index.js, and the
 * bundle directory's name is the service name users see in bundles/.
 */
export function parseWranglerConfig(bundle: string, file: string, text: string): Manifest {
  let raw: Record<string, unknown>;
  if (file.endsWith(".toml")) {
    try {
      raw = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      fail(bundle, file, `not valid TOML (${(err as Error).message.split("\n")[0]})`);
    }
  } else {
    raw = parseJsonObject(bundle, file, text);
  }
  const out: Manifest = {};
  if (raw.compatibility_date !== undefined) {
    date(bundle, file, "compatibility_date", raw.compatibility_date);
    out.compatibilityDate = raw.compatibility_date as string;
  }
  if (raw.compatibility_flags !== undefined) {
    flags(bundle, file, "compatibility_flags", raw.compatibility_flags);
    out.compatibilityFlags = raw.compatibility_flags as string[];
  }
  if (raw.vars !== undefined) {
    // wrangler allows JSON values in vars; workerd text bindings are strings, so stringify others.
    if (typeof raw.vars !== "object" || raw.vars === null || Array.isArray(raw.vars)) fail(bundle, file, `"vars" must be a table`);
    const v: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [name, value] of Object.entries(raw.vars as object)) {
      if (RESERVED_VARS.has(name)) fail(bundle, file, `"vars" has an invalid variable name ${JSON.stringify(name)}`);
      v[name] = typeof value === "string" ? value : JSON.stringify(value);
    }
    vars(bundle, file, "vars", v);
    out.vars = v;
  }
  return out;
}
