// Gridiron's build of the Restate SDK's fetch adapter (the SDK's dist/endpoint/handlers/fetch.js,
// which bin/build-service.js swaps for this file; the imports below resolve inside the SDK).
//
// Gridiron registers every version over HTTP/1.1, so Restate speaks request-response: it sends the
// whole journal as one request body and reads the answer to its end. The SDK's own adapter still
// treats both as streams (a body iterator, a TransformStream, a chunked response), and in workerd
// each of those is a wrapped C++ object: about a third of a short invocation's CPU went there.
// Here a request-response call reads the body in one piece and, if the handler is done within
// STREAM_AFTER_MS, answers with one buffer (Content-Length, one write). A handler still running by
// then gets the SDK's streaming behaviour from that point on: what it wrote so far is sent at once
// and every later write streams, so Restate keeps seeing progress from long handlers (its
// inactivity timeout) exactly as with the SDK's adapter. Bidirectional endpoints get the SDK's
// adapter itself.
import { ensureError } from "../../types/errors.js";
import { tryCreateContextualLogger } from "./utils.js";
// The SDK's own adapter, unchanged (build-service resolves this name to the original module).
import { fetcher as sdkFetcher } from "gridiron:sdk-fetch";

/** How long an answer may be held back to be sent in one piece. */
const STREAM_AFTER_MS = 200;
const DONE = Object.freeze({ done: true, value: undefined });

function fetcher(handler) {
  if (handler.protocolMode !== "REQUEST_RESPONSE") return sdkFetcher(handler);
  return {
    fetch: (event, ...extraArgs) => {
      const url = event.url;
      const headers = {};
      for (const [name, value] of event.headers) headers[name] = value;
      const response = handler.handle({ url, headers, extraArgs });
      const input = event.body ? event.arrayBuffer() : undefined;
      let taken = input === undefined;
      const inputReader = {
        async next() {
          if (taken) return DONE;
          taken = true;
          return { done: false, value: new Uint8Array(await input) };
        },
      };
      const output = new HeldOutput();
      const writeHead = (statusCode, headers) => output.head({ statusCode, headers: { ...headers } });
      const abortController = new AbortController();
      const abort = () => abortController.abort();
      // A getter into workerd's C++ on each read: read once.
      const signal = event.signal;
      if (signal.aborted) abort();
      else signal.addEventListener("abort", abort, { once: true });
      const done = response
        .process({ inputReader, outputWriter: output, writeHead, abortSignal: abortController.signal })
        .catch((e) => logUnexpected(handler, url, headers, e))
        .finally(() => {
          signal.removeEventListener("abort", abort);
          abort();
        });
      return output.respond(done);
    },
  };
}

/** The output writer the SDK writes to: held in memory until done or STREAM_AFTER_MS, then streamed. */
class HeldOutput {
  chunks = [];
  writer = undefined;
  closed = false;
  status = undefined; // { statusCode, headers } once the SDK wrote the head
  onHead = undefined;

  head(status) {
    this.status = status;
    this.onHead?.();
  }

  write(chunk) {
    if (this.writer) return this.writer.write(chunk);
    this.chunks.push(chunk);
    return Promise.resolve();
  }

  close() {
    this.closed = true;
    return this.writer ? this.writer.close() : Promise.resolve();
  }

  async respond(done) {
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve("late"), STREAM_AFTER_MS)));
    const first = await Promise.race([done, late]);
    if (first !== "late") clearTimeout(timer);
    // The SDK writes the head before anything else; if it failed before that, say so instead of
    // leaving Restate waiting for an answer that never comes.
    if (first === "late" && this.status === undefined) await Promise.race([new Promise((resolve) => (this.onHead = resolve)), done]);
    const h = this.status;
    if (h === undefined) return new Response("gridiron: the Restate SDK ended the call without an answer (see the worker's log)\n", { status: 500 });
    if (first !== "late") return new Response(concat(this.chunks), { status: h.statusCode, headers: h.headers });
    const stream = new TransformStream();
    this.writer = stream.writable.getWriter();
    for (const chunk of this.chunks) void this.writer.write(chunk);
    this.chunks = [];
    if (this.closed) void this.writer.close();
    return new Response(stream.readable, { status: h.statusCode, headers: h.headers });
  }
}

function concat(chunks) {
  if (chunks.length === 1) return chunks[0];
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function logUnexpected(handler, url, headers, e) {
  const error = ensureError(e);
  (tryCreateContextualLogger(handler.endpoint.loggerTransport, url, headers) ?? handler.endpoint.rlog).error("Unexpected error: " + (error.stack ?? error.message));
}

export { fetcher };
