/**
 * The request body Restate sends to a deployment to start a fresh invocation (service protocol v6,
 * request-response): a StartMessage and an InputCommandMessage, each an 8-byte header (type u16,
 * flags u16, length u32) and a protobuf body. Only the fields restate-server 1.7 sets for a first
 * attempt with no journal are written. Lets a test call a bundle's /invoke/... directly, without a
 * restate-server, and look at the HTTP answer itself.
 */

export const INVOCATION_CONTENT_TYPE = "application/vnd.restate.invocation.v6";

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const bytesField = (field: number, value: Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(value.length), ...value];
const varintField = (field: number, value: number): number[] => [...varint(field << 3), ...varint(value)];
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function message(type: number, body: number[]): number[] {
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  view.setUint16(0, type);
  view.setUint16(2, 0);
  view.setUint32(4, body.length);
  return [...head, ...body];
}

/** A first attempt of an invocation whose input is `input` serialized as JSON ("" for no input). */
export function invocationRequestBody(input: unknown, debugId = "inv_1gridirontestinvocation0"): Uint8Array {
  const id = new Uint8Array(24).map((_, i) => (i * 37 + 11) & 0xff);
  const start = [
    ...bytesField(1, id), // id
    ...bytesField(2, utf8(debugId)), // debug_id
    ...varintField(3, 1), // known_entries: the input command
    ...varintField(5, 1), // partial_state
  ];
  const value = bytesField(1, input === undefined ? new Uint8Array() : utf8(JSON.stringify(input))); // Value.content
  const inputCommand = [...bytesField(14, new Uint8Array(value))]; // InputCommandMessage.value
  return new Uint8Array([...message(0x0000, start), ...message(0x0400, inputCommand)]);
}

/** Message types in an answer (0x0401 output, 0x0003 end, 0x0000+ errors, …), in order. */
export function messageTypes(body: Uint8Array): number[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const types: number[] = [];
  for (let at = 0; at + 8 <= body.length; at += 8 + view.getUint32(at + 4)) types.push(view.getUint16(at));
  return types;
}
