/**
 * Serves the built demo ("Digits" PWA at `/`, dashboard at `/dashboard`, from
 * dist/demo) and the script-tag SDK (`/sdk/*`, from dist/flock) on the
 * coordinator's port, in front of the coordinator's API: a request that names
 * a built file gets it, everything else goes to the API.
 *
 * Every demo response carries COOP/COEP so the pages are cross-origin
 * isolated (SharedArrayBuffer, hence WASM threads). The SDK is served with
 * CORP cross-origin so other sites may embed it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { Hono } from 'hono';
import { rejectMalformedPaths } from '../http/hooks.ts';
import { securityHeaders } from '../http/security-headers.ts';

/** dist/ of this package: this file is coordinator/static/index.ts, or dist/lib/coordinator/static/index.js once built. */
export const DEFAULT_DIST_DIR = import.meta.url.endsWith('.js')
  ? resolve(import.meta.dirname, '..', '..', '..')
  : resolve(import.meta.dirname, '..', '..', 'dist');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

export interface StaticSiteOptions {
  /** Folder holding demo/ and flock/ (default: this package's dist/). */
  distDir?: string;
}

export interface StaticSite {
  /** Whether dist/demo holds a build (index.html). */
  demoBuilt: boolean;
  sdkBuilt: boolean;
  /** Wraps the API: built files first, then `api`. */
  app: Hono;
}

/** Resolves `relative` under `root`, or null when it escapes root or is not a file. */
function fileUnder(root: string, relative: string): string | null {
  const path = resolve(root, `.${relative.startsWith('/') ? '' : '/'}${decodeURIComponent(relative)}`);
  if (path !== root && !path.startsWith(root + sep)) return null;
  return existsSync(path) && statSync(path).isFile() ? path : null;
}

function cacheControl(urlPath: string): string {
  // Vite fingerprints /assets/*; everything else (pages, sw.js, manifest) must revalidate.
  return urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
}

const NOT_BUILT_PAGE =
  '<!doctype html><meta charset="utf-8"><title>Flock: demo not built</title><h1>The demo is not built</h1><p>Run <code>npm run build:demo</code> (or <code>npm start</code>, which builds it), then reload.</p>';

/**
 * @example
 * const site = staticSite(coordinator.app);
 * if (!site.demoBuilt) log.warn('demo not built: run npm run build:demo');
 * serve({ fetch: site.app.fetch, port: 8787 });
 */
export function staticSite(
  api: { fetch: (request: Request, env?: unknown) => Response | Promise<Response> },
  options: StaticSiteOptions = {},
): StaticSite {
  const dist = resolve(options.distDir ?? DEFAULT_DIST_DIR);
  const demoDir = join(dist, 'demo');
  const sdkDir = join(dist, 'flock');
  const demoBuilt = existsSync(join(demoDir, 'index.html'));
  const sdkBuilt = existsSync(join(sdkDir, 'flock.min.js'));
  const app = new Hono();
  app.use('*', securityHeaders());
  // fileUnder decodes the path: a malformed one (`GET /%`) is a 400, not a 500.
  app.use('*', rejectMalformedPaths());

  const send = (path: string, urlPath: string, extra: Record<string, string>) =>
    new Response(readFileSync(path), {
      headers: {
        'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
        'cache-control': cacheControl(urlPath),
        ...extra,
      },
    });

  app.get('/sdk/*', async (c, next) => {
    const path = fileUnder(sdkDir, c.req.path.slice('/sdk'.length));
    if (!path) return next();
    return send(path, c.req.path, {
      'cross-origin-resource-policy': 'cross-origin',
      'access-control-allow-origin': '*',
    });
  });

  const page = (file: string) => (c: { req: { path: string } }) => {
    const path = join(demoDir, file);
    if (!existsSync(path))
      return new Response(NOT_BUILT_PAGE, { status: 503, headers: { 'content-type': 'text/html; charset=utf-8' } });
    return send(path, c.req.path, ISOLATION_HEADERS);
  };
  app.get('/', page('index.html'));
  app.get('/dashboard', page('dashboard/index.html'));
  app.get('/dashboard/', page('dashboard/index.html'));

  app.get('*', async (c, next) => {
    if (c.req.path.startsWith('/v1/')) return next();
    const path = fileUnder(demoDir, c.req.path);
    if (!path) return next();
    const extra: Record<string, string> = { ...ISOLATION_HEADERS };
    if (c.req.path === '/sw.js') extra['service-worker-allowed'] = '/';
    return send(path, c.req.path, extra);
  });

  app.all('*', (c) => api.fetch(c.req.raw, c.env));
  return { demoBuilt, sdkBuilt, app };
}
