/**
 * What the network suites share: a real CONNECT-capable forward proxy (the
 * `proxy` package undici's own tests use) that counts what went through it,
 * a certificate made by the test with openssl (never committed), and the
 * machine's first non-loopback address (the environment's proxy never
 * applies to loopback).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, type ProxyServer } from 'proxy';

export interface TestProxy {
  url: string;
  port: number;
  /** The targets of the CONNECT requests it accepted or refused ("host:port"). */
  tunnels: string[];
  /** The Proxy-Authorization header of each CONNECT, as received. */
  authorizations: (string | undefined)[];
  server: ProxyServer;
  close(): Promise<void>;
}

/** Starts a forward proxy on loopback; `accept` decides each request (407 when it says no). */
export async function startProxy(accept?: (req: IncomingMessage) => boolean): Promise<TestProxy> {
  const server = createProxy(createServer());
  const tunnels: string[] = [];
  const authorizations: (string | undefined)[] = [];
  server.authenticate = (req) => {
    if (req.method === 'CONNECT') {
      tunnels.push(req.url ?? '');
      authorizations.push(req.headers['proxy-authorization']);
    }
    return accept ? accept(req) : true;
  };
  // Tunnels are upgraded sockets, which closeAllConnections() does not see.
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    tunnels,
    authorizations,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

export interface TestCertificate {
  key: string;
  cert: string;
}

/** A self-signed certificate for `hosts` (IP addresses or names), made now with openssl; nothing is left on disk. */
export function makeCertificate(hosts: string[]): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cert-'));
  try {
    const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=parley test CA',
        '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:TRUE',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An IPv4 address of this machine that is not loopback, if it has one. */
export function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) if (info.family === 'IPv4' && !info.internal) return info.address;
  }
  return undefined;
}

const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'] as const;

/**
 * Runs `body` with exactly `vars` as the proxy variables of process.env
 * (a worker copies the environment when it starts), then restores them.
 */
export async function withProxyEnv<T>(vars: Partial<Record<(typeof PROXY_VARIABLES)[number], string>>, body: () => Promise<T>): Promise<T> {
  const saved = PROXY_VARIABLES.map((name) => [name, process.env[name]] as const);
  for (const name of PROXY_VARIABLES) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
