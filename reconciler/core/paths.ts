// Where the checkout is: defaults (config/restate.toml, services/, bundles/) resolve against it,
// so the CLI works from any working directory.
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
