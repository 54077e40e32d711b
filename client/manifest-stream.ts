/**
 * Live manifest changes over server-sent events (`GET /v1/apps/:app/events`).
 * EventSource cannot send an Authorization header, so this reads the stream
 * with fetch and parses SSE itself. It reconnects with backoff and
 * Last-Event-ID; polling with ETag (connect's `updateIntervalMs`) remains the
 * fallback when streaming is blocked (proxies, old browsers).
 */
import type { FlockTransport } from './federated/transport.ts';

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/**
 * Incremental SSE parser (the subset the coordinator sends: event, data, id,
 * retry; comments ignored). Feed it text chunks; it returns complete messages.
 * @example
 * const parse = createSseParser(); parse('event: manifest\ndata: {}\n\n') // [{ event: 'manifest', data: '{}' }]
 */
export function createSseParser(): (chunk: string) => SseMessage[] {
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  return (chunk) => {
    buffer += chunk;
    const out: SseMessage[] = [];
    let newline: number;
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) out.push({ event, data: data.join('\n'), ...(id !== undefined ? { id } : {}) });
        event = 'message';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    return out;
  };
}

export interface ManifestStreamOptions {
  /** Carries the device token (the stream is opened through it). */
  transport: FlockTransport;
  app: string;
  /** Awaited before each (re)connect, e.g. to register the device first. */
  ready?: () => Promise<unknown>;
  /** Called for each `manifest` event (a newer generation may be available). */
  onManifest: (event: { generation: number; version: number }) => void;
}

/**
 * Keeps a stream open until `stop()`; reconnects after 1 s, doubling to 60 s.
 * @example const stream = watchManifests({ transport, app, ready, onManifest: () => void flock.checkForUpdate() });
 */
export function watchManifests(options: ManifestStreamOptions): { stop(): void } {
  const abort = new AbortController();
  let lastEventId: string | undefined;
  const run = async () => {
    let delay = 1000;
    while (!abort.signal.aborted) {
      try {
        await options.ready?.();
        const res = await options.transport.openManifestEvents(options.app, { lastEventId, signal: abort.signal });
        if (!res.ok || !res.body) throw new Error(`events answered ${res.status}`);
        delay = 1000;
        const parse = createSseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const message of parse(value)) {
            if (message.id) lastEventId = message.id;
            if (message.event !== 'manifest') continue;
            try {
              const body = JSON.parse(message.data) as { generation: number; version: number };
              options.onManifest(body);
            } catch {
              // A malformed event is skipped; the next heartbeat re-checks.
            }
          }
        }
      } catch {
        if (abort.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(60_000, delay * 2);
    }
  };
  void run();
  return { stop: () => abort.abort() };
}
