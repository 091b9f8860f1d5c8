/**
 * The console's HTTP server: the page (GET /), its state (GET /api/state), on-demand reads
 * (GET /api/read/<view>/<name>) and, only when started with write and a token, actions
 * (POST /api/action/<view>/<name>, `Authorization: Bearer <token>`), each logged with who
 * and when. Strict headers: the page runs only its own script (CSP), is never framed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import createDebug from 'debug';
import { translateError } from '@pgferry/sql';
import { ActionLog } from './action-log.js';
import { asset } from './assets.js';
import { bearerToken, tokenMatches } from './auth.js';
import { DEFAULT_CONSOLE_HOST } from './config.js';
import { ConsoleRequestError, type ConsoleView } from './view.js';

const debug = createDebug('pgferry:console');

/** A refresh reuses a state read this recent (many open pages cost one read). */
const STATE_CACHE_MS = 500;
/** A section that takes longer is shown with a timeout error. */
const SECTION_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 64 * 1024;

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export interface ConsoleServerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Shown in the page's title ("pgferry daemon"). */
  title: string;
  views: ConsoleView[];
  /** Allow actions; needs `token`. */
  write?: boolean;
  token?: string;
  /** Where actions are recorded (kept across a daemon's reloads); default a new one. */
  actions?: ActionLog;
}

export interface ConsoleServer {
  port: number;
  server: Server;
  readonly actions: ActionLog;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * A console bound to loopback answers only to loopback host names: a web page elsewhere
 * cannot rebind its own name to 127.0.0.1 and read the console (DNS rebinding).
 */
function hostAllowed(req: IncomingMessage, boundHost: string): boolean {
  if (!LOOPBACK.has(boundHost)) return true;
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return LOOPBACK.has(host);
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8'): void {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type }).end(text);
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) reject(new ConsoleRequestError('request body too large', 413));
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch {
        reject(new ConsoleRequestError('request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** An error's message as an operator should read it (pgferry's SQLSTATEs typed). */
function messageOf(err: unknown): string {
  const e = translateError(err);
  return e instanceof Error ? e.message : String(e);
}

export function serveConsole(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const host = options.host ?? DEFAULT_CONSOLE_HOST;
  const write = options.write === true;
  if (write && !options.token) return Promise.reject(new Error('a console with write needs a token'));
  const views = new Map(options.views.map((v) => [v.name, v]));
  const actions = options.actions ?? new ActionLog();
  let cached: { at: number; value: Promise<Record<string, unknown>> } | undefined;

  function readState(): Promise<Record<string, unknown>> {
    if (cached && Date.now() - cached.at < STATE_CACHE_MS) return cached.value;
    const value = (async () => {
      const sections: Record<string, unknown> = {};
      await Promise.all(
        options.views.map(async (v) => {
          try {
            sections[v.name] = { ok: true, data: await withTimeout(v.state(), SECTION_TIMEOUT_MS) };
          } catch (err) {
            debug('state of %s failed: %s', v.name, (err as Error).message);
            sections[v.name] = { ok: false, error: messageOf(err) };
          }
        }),
      );
      return sections;
    })();
    cached = { at: Date.now(), value };
    return value;
  }

  async function state(): Promise<unknown> {
    return { title: options.title, generatedAt: new Date(), write, sections: await readState(), actions: actions.list() };
  }

  async function read(viewName: string, name: string, params: URLSearchParams): Promise<unknown> {
    const fn = views.get(viewName)?.reads?.[name];
    if (!fn) throw new ConsoleRequestError(`no read ${viewName}/${name}`, 404);
    return fn(params);
  }

  async function act(req: IncomingMessage, viewName: string, name: string): Promise<unknown> {
    // Read-only consoles have no actions at all; the token is checked before anything else.
    if (!write) throw new ConsoleRequestError('this console is read-only (start it with --console-write and a token)', 403);
    if (!tokenMatches(options.token!, bearerToken(req))) throw new ConsoleRequestError('a valid token is needed for actions', 401);
    const action = views.get(viewName)?.actions?.[name];
    if (!action) throw new ConsoleRequestError(`no action ${viewName}/${name}`, 404);
    const raw = await readBody(req);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConsoleRequestError('request body: expected {"by": ..., "args": {...}}');
    const body = raw as { by?: unknown; args?: unknown };
    const by = typeof body.by === 'string' && body.by.trim() ? body.by.trim().slice(0, 64) : 'anonymous';
    const from = req.socket.remoteAddress ?? '?';
    try {
      const result = await action.run(body.args ?? {});
      cached = undefined; // the next refresh shows the change
      return actions.add({ by, from, view: viewName, action: name, args: body.args ?? {}, ok: true, result });
    } catch (err) {
      const entry = actions.add({ by, from, view: viewName, action: name, args: body.args ?? {}, ok: false, error: messageOf(err) });
      throw Object.assign(new ConsoleRequestError(entry.error!, err instanceof ConsoleRequestError ? err.status : 422), { entry });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req, host)) return send(res, 421, { error: 'unexpected Host header' });
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (req.method === 'GET') {
      const a = asset(url.pathname);
      if (a) return send(res, 200, a.body, a.type);
      if (url.pathname === '/api/state') return send(res, 200, await state());
      if (parts[0] === 'api' && parts[1] === 'read' && parts.length === 4) return send(res, 200, await read(parts[2]!, parts[3]!, url.searchParams));
      return send(res, 404, { error: 'not found' });
    }
    if (req.method === 'POST' && parts[0] === 'api' && parts[1] === 'action' && parts.length === 4) {
      return send(res, 200, await act(req, parts[2]!, parts[3]!));
    }
    return send(res, 405, { error: 'method not allowed' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof ConsoleRequestError ? err.status : 500;
      send(res, status, { error: messageOf(err), entry: (err as { entry?: unknown }).entry });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        server,
        actions,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
