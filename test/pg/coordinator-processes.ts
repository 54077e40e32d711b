/**
 * Several `flock serve --store postgres://...` processes and a small
 * round-robin proxy in front of them, as an operator would run them behind a
 * load balancer. The proxy buffers each request so that it can retry it on
 * another backend when the connection fails (a killed process), and tags each
 * answer with the backend that served it (`x-flock-backend`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface CoordinatorProcess {
  child: ChildProcess;
  base: string;
  port: number;
  exited: Promise<NodeJS.Signals | number | null>;
}

/**
 * Starts `flock serve` on a free loopback port and resolves once it listens.
 *
 * @example
 * ```ts
 * const p = await startCoordinatorProcess({ databaseUrl, adminKey });
 * await fetch(`${p.base}/healthz`);
 * p.child.kill('SIGTERM'); await p.exited;
 * ```
 */
export async function startCoordinatorProcess(o: {
  databaseUrl?: string;
  adminKey: string;
  poolSize?: number;
  args?: string[];
  env?: Record<string, string>;
  /** Another `flock` bin (e.g. an installed package's) and the folder it runs in; default this checkout's. */
  bin?: string;
  cwd?: string;
}): Promise<CoordinatorProcess & { stdout(): string }> {
  const store = o.databaseUrl ? ['--store', o.databaseUrl, '--pool-size', String(o.poolSize ?? 4)] : [];
  const args = [
    o.bin ?? join(root, 'bin/flock.js'),
    'serve',
    ...store,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--no-demo',
    ...(o.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, FLOCK_ADMIN_KEY: o.adminKey, FLOCK_LOG_LEVEL: 'silent', ...o.env };
  if (!o.env?.FLOCK_DATA) delete env.FLOCK_DATA; // blobs in bytea: no folder shared between the processes
  const child = spawn(process.execPath, args, {
    cwd: o.cwd ?? root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let out = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`flock serve did not start in 90 s; stderr: ${stderr}`)), 90_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = out.match(/flock coordinator listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`flock serve exited (${how}) before listening; stderr: ${stderr}`));
    });
  });
  return { child, base, port: Number(new URL(base).port), exited, stdout: () => out };
}

export interface RoundRobinProxy {
  base: string;
  /** Backend ports in rotation; edit it to add or remove processes. */
  backends: number[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A round-robin HTTP proxy on loopback that retries the next backend on a
 * connection error (refused or reset before any answer).
 *
 * @example
 * ```ts
 * const proxy = await startRoundRobinProxy([p1.port, p2.port]);
 * await fetch(`${proxy.base}/healthz`);
 * ```
 */
export async function startRoundRobinProxy(backends: number[]): Promise<RoundRobinProxy> {
  let next = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const tried: string[] = [];
      for (let attempt = 0; attempt < Math.max(1, proxy.backends.length); attempt++) {
        const port = proxy.backends[next++ % proxy.backends.length];
        const answered = await new Promise<boolean>((done) => {
          const upstream = request(
            {
              host: '127.0.0.1',
              port,
              method: req.method,
              path: req.url,
              headers: { ...req.headers, host: `127.0.0.1:${port}` },
            },
            (up) => {
              res.writeHead(up.statusCode ?? 502, { ...up.headers, 'x-flock-backend': String(port) });
              up.pipe(res);
              up.on('end', () => done(true));
              up.on('error', () => {
                res.destroy();
                done(true);
              });
            },
          );
          upstream.on('error', (err) => {
            tried.push(`${port}: ${err.message}`);
            done(false);
          });
          upstream.end(body);
        });
        if (answered) return;
      }
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bad_gateway', message: `no backend answered: ${tried.join('; ')}` } }));
    })();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: RoundRobinProxy = {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    backends: [...backends],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
