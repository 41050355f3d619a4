#!/usr/bin/env node
// Thin wrapper: registers tsx so the TypeScript build script runs from any cwd, then calls its main().
import { register } from "tsx/esm/api";

register();
const { main } = await import("../reconciler/build/service.ts");
process.exitCode = await main(process.argv.slice(2));
