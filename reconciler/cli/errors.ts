// Errors the CLI maps to exit codes: 2 for a wrong call, 3 when the mesh is not running.

/** A mistake in how the command was called: exit code 2 and the command's help. */
export class UsageError extends Error {}
/** Nothing answers where the mesh should be: exit code 3, so scripts can tell "down" from "failed". */
export class MeshDownError extends Error {}
