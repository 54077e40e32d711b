import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FlockTransport } from './federated/transport.ts';
import { createSseParser, watchManifests } from './manifest-stream.ts';

describe('SSE parser', () => {
  it('parses events split across chunks, multi-line data, ids, CRLF and comments', () => {
    const parse = createSseParser();
    expect(parse('event: hel')).toEqual([]);
    expect(parse('lo\ndata: {"a":1}\n\n: heartbeat comment\n')).toEqual([{ event: 'hello', data: '{"a":1}' }]);
    expect(parse('event: manifest\r\nid: g7\r\ndata: line1\r\ndata: line2\r\n\r\n')).toEqual([
      { event: 'manifest', data: 'line1\nline2', id: 'g7' },
    ]);
    expect(parse('data: plain\n\n')).toEqual([{ event: 'message', data: 'plain', id: 'g7' }]);
  });
});

describe('watchManifests', () => {
  it('reports manifest events, reconnects with Last-Event-ID after the server drops the stream', async () => {
    const seen: string[] = [];
    let connections = 0;
    const server = createServer((req, res) => {
      connections++;
      seen.push(`${req.headers.authorization}|${req.headers['last-event-id'] ?? ''}`);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: hello\ndata: {}\n\n`);
      res.write(`event: manifest\nid: g${connections}\ndata: {"generation":${connections},"version":1}\n\n`);
      if (connections === 1) res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const generations: number[] = [];
    const stream = watchManifests({
      transport: new FlockTransport({ baseUrl: `http://127.0.0.1:${port}`, token: 'tok' }),
      app: 'digits',
      onManifest: (m) => generations.push(m.generation),
    });
    const until = Date.now() + 10_000;
    while (generations.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    stream.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    expect(generations).toEqual([1, 2]);
    expect(seen).toEqual(['Bearer tok|', 'Bearer tok|g1']);
  });
});
