// Shape checks for encode.ts. The input is typed, but it is built from manifests and may come
// through JSON, so the encoder still refuses what it would otherwise silently drop or mangle.
// Each error names where in the config the problem is (`where`).

/** The one variant key (from a fixed list) present on `obj`; an Error if none or several. */
export function variantOf<K extends string>(obj: object, kinds: readonly K[], where: string): K {
  const present = kinds.filter((k) => Object.prototype.hasOwnProperty.call(obj, k));
  if (present.length !== 1) {
    throw new Error(
      present.length === 0
        ? `${where}: unknown kind (expected one of ${kinds.join(", ")})`
        : `${where}: more than one kind (${present.join(", ")})`,
    );
  }
  return present[0]!;
}

/** `obj` must be a plain object with every `required` key and nothing outside required+optional. */
export function checkKeys(obj: unknown, required: readonly string[], optional: readonly string[], where: string): void {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw new Error(`${where}: not an object`);
  for (const k of required) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) throw new Error(`${where}: missing ${k}`);
  }
  for (const k of Object.keys(obj)) {
    if (!required.includes(k) && !optional.includes(k)) throw new Error(`${where}: unknown field ${k}`);
  }
}

export function checkString(value: unknown, where: string): string {
  if (typeof value !== "string") throw new Error(`${where}: expected a string`);
  return value;
}

export function checkArray(value: unknown, where: string): void {
  if (!Array.isArray(value)) throw new Error(`${where}: expected an array`);
}

export function checkBytes(value: unknown, where: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Error(`${where}: expected a Uint8Array`);
  return value;
}

export function unreachable(kind: never, where: string): never {
  throw new Error(`${where}: unknown kind ${String(kind)}`);
}
