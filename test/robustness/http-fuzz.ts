// Random and malformed HTTP/1.1 requests, as raw bytes for a TCP or unix socket (node:net), so they can be
// anything a hostile client sends: odd methods and versions, absolute-form targets with broken hosts,
// huge or malformed headers, conflicting framing, bad chunked encodings, truncated bodies, pipelined
// junk, upgrades to /noise with garbage after them, admin API calls with junk JSON, plain random bytes.
//
// The generators never build a request that could change state when it succeeds: the admin token is only
// sent with bodies no handler accepts and never with DELETE or a policy POST; the LocalAPI generator
// never names down or logout, and the only bodies `up` or `PATCH prefs` accept are ones that framing junk
// decodes to empty (`{}`: no change). So after the fuzz the suite can demand that nothing was lost. Each
// request carries a label (its shape) for failure messages.
import { connect, type NetConnectOpts } from 'node:net';
import type { Fuzz } from './fuzz-rng.js';

export interface FuzzRequest {
  label: string;
  bytes: Buffer;
  /** An upgrade to /noise: 101 and 503 (pre-auth limits) are legitimate answers. */
  upgrade: boolean;
}

export interface Exchange {
  /** The status code of the first response, or null when none came (closed, or not HTTP). */
  status: number | null;
  /** The connection ended (or failed) before waitMs. */
  closed: boolean;
}

/**
 * Writes `bytes` (in a few pieces, so incremental parsing is exercised too) and waits until the first
 * response's status line and headers arrived, the connection closed, or `waitMs` passed; then destroys
 * the socket. Never rejects.
 */
export function rawExchange(to: NetConnectOpts, bytes: Buffer, waitMs: number, pieces = 1, halfClose = false): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = connect(to);
    let got = '';
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(got);
      resolve({ status: m ? Number(m[1]) : null, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('data', (d: Buffer) => {
      if (got.length < 4096) got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', () => {
      const step = Math.max(1, Math.ceil(bytes.length / pieces));
      for (let off = 0; off < bytes.length; off += step) s.write(bytes.subarray(off, off + step));
      if (halfClose) s.end();
    });
  });
}

// ---- building blocks

const CRLF = '\r\n';

interface Parts {
  method: string;
  target: string;
  version?: string;
  headers: string[];
  body?: Buffer | string;
}

function build(p: Parts): Buffer {
  const head = `${p.method} ${p.target}${p.version === '' ? '' : ` ${p.version ?? 'HTTP/1.1'}`}${CRLF}${p.headers.map((h) => h + CRLF).join('')}${CRLF}`;
  const body = p.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body, 'latin1');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PRI', 'M-SEARCH', 'get', 'G\u0000T', 'GET\tX', ''];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.', 'HTTP/1.1 extra', 'http/1.1', 'HTTP/1.1\u0000', ''];
const HOSTS = ['[', '[::1', 'a:99999', '%zz', '', 'a b', '\u0000', 'xn--', '256.256.256.256', '[::ffff:1.2.3.4]:0', '@', 'user:pass@', ':::'];

function hex(f: Fuzz, n: number): string {
  return f.text(n, '0123456789abcdef');
}

/** An absolute-form target with a hostile authority (control issue 10 item 1 and its relatives). */
function absoluteTarget(f: Fuzz, path: string): string {
  return `${f.pick(['http://', 'https://', 'ftp://', 'http:/', 'http:', 'HTTP://', 'javascript:', '//'])}${f.pick(HOSTS)}${path}`;
}

function randomHeaderLine(f: Fuzz): string {
  switch (f.int(12)) {
    case 0:
      return `Content-Length: ${f.pick(['-1', '1e3', 'abc', '99999999999999999999', ' 5', '5, 6', '0x10', ''])}`;
    case 1:
      return `Transfer-Encoding: ${f.pick(['chunked', 'gzip, chunked', 'chunked, identity', 'CHUNKED', 'xchunked', ''])}`;
    case 2:
      return `Connection: ${f.pick(['Upgrade', 'close', 'keep-alive', 'Upgrade, close', ''])}`;
    case 3:
      return `Upgrade: ${f.pick(['grantwire-noise-v1', 'websocket', 'h2c', 'GRANTWIRE-NOISE-V1', '', f.text(f.int(40))])}`;
    case 4:
      return `Authorization: ${f.pick(['Bearer', 'Bearer ', 'Bearer x', 'Bearer gwapi-', `Bearer gwapi-${hex(f, 12)}-${f.text(32)}`, 'Basic YTpi', `Bearer ${'a'.repeat(f.range(100, 9000))}`])}`;
    case 5:
      return f.text(f.range(1, 30)); // no colon, or any junk
    case 6:
      return ` obs-fold ${f.text(f.int(20))}`;
    case 7:
      return `${f.text(f.range(1, 10), 'abcXYZ()<>@,;:\\"/[]?={} \t')}: x`;
    case 8:
      return `X-${f.text(f.range(1, 12))}: ${Buffer.from(f.bytes(f.int(40))).toString('latin1').replace(/[\r\n]/g, '')}`;
    case 9:
      return `Expect: ${f.pick(['100-continue', '200-ok', ''])}`;
    case 10:
      return `Host: ${f.pick(HOSTS)}`;
    default:
      return `Content-Type: ${f.pick(['application/json', 'text/plain', 'multipart/form-data; boundary=', ''])}`;
  }
}

/** Chunked bodies that are wrong in one way each. */
function badChunked(f: Fuzz): string {
  return f.pick([
    'zz\r\nabc\r\n0\r\n\r\n',
    'ffffffffffffffff\r\nabc',
    '-1\r\n\r\n',
    '5\r\nab\r\n0\r\n\r\n',
    '3\r\nabcdef\r\n0\r\n\r\n',
    '3;ext=\u0000\r\nabc\r\n0\r\n\r\n',
    '0\r\nTrailer: x\r\n',
    '3\r\nabc',
    '\r\n\r\n',
    `${'1'.repeat(f.range(5, 40))}\r\nx\r\n`,
    '3\nabc\n0\n\n',
    `3\r\n{"a\r\n0\r\nX-Bad Trailer\r\n\r\n`,
  ]);
}

/** JSON (or not) that no admin API or LocalAPI handler accepts: malformed, mistyped, or with unknown keys. */
export function junkJson(f: Fuzz): string {
  const fixed = [
    '',
    '{',
    '}',
    '{"',
    'null',
    'true',
    '1e309',
    '"str"',
    '[]',
    '[1,2',
    '{"a":}',
    '{"user":5}',
    '{"user":null,"reusable":"yes"}',
    '{"login":["x"]}',
    '{"login":"x","role":"root"}',
    '{"tags":"tag:web"}',
    '{"tags":[1,2]}',
    '{"value":{}}',
    '{"value":[1]}',
    '{"value":"x","expiry":5}',
    '{"user":"alice@example.com","expiry":"forever"}',
    '{"user":"alice@example.com","tags":[1]}',
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '{"ShieldsUp":"yes"}',
    '{"WantRunning":0}',
    '{"AuthKey":5}',
    '{"Hostname":["x"]}',
    '{"AdvertiseTags":"tag:x"}',
    '\uFEFF{"a":1}',
    '{"a":"\ud800"}',
  ];
  switch (f.int(4)) {
    case 0: {
      const depth = f.range(100, 20_000);
      return f.chance(0.5) ? '['.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth);
    }
    case 1:
      return Buffer.from(f.bytes(f.size(512))).toString('latin1');
    case 2:
      return randomJson(f, 4);
    default:
      return f.pick(fixed);
  }
}

/** A random JSON value whose object keys can never be a field any handler reads. */
function randomJson(f: Fuzz, depth: number): string {
  const k = f.int(depth > 0 ? 6 : 4);
  if (k === 0) return String(f.pick([0, -1, 1e308, 0.5, 2 ** 53 + 1]));
  if (k === 1) return JSON.stringify(f.text(f.size(100)));
  if (k === 2) return f.pick(['true', 'false', 'null']);
  if (k === 3) return JSON.stringify(f.text(f.int(8), 'qxzjk'));
  if (k === 4) return `[${Array.from({ length: f.int(5) }, () => randomJson(f, depth - 1)).join(',')}]`;
  return `{${Array.from({ length: f.int(5) }, () => `${JSON.stringify(f.text(f.range(1, 6), 'qxzjk'))}:${randomJson(f, depth - 1)}`).join(',')}}`;
}

// ---- shapes shared by both servers

/** Requests that are malformed whatever the route: framing, header limits, plain bytes, pipelining. */
function framingJunk(f: Fuzz, host: string, path: string): FuzzRequest {
  switch (f.int(8)) {
    case 0:
      return { label: 'random bytes', bytes: Buffer.from(f.bytes(f.size(4096))), upgrade: false };
    case 1:
      return {
        label: 'huge header',
        bytes: build({ method: 'GET', target: path, headers: [`Host: ${host}`, `X-Big: ${'a'.repeat(f.range(16 * 1024, 96 * 1024))}`] }),
        upgrade: false,
      };
    case 2:
      return {
        label: 'many headers',
        bytes: build({ method: 'GET', target: path, headers: [`Host: ${host}`, ...Array.from({ length: f.range(100, 2500) }, (_, i) => `X-${i}: ${i}`)] }),
        upgrade: false,
      };
    case 3:
      return {
        label: 'bad chunked body',
        bytes: build({ method: f.pick(['POST', 'PATCH', 'PUT']), target: path, headers: [`Host: ${host}`, 'Transfer-Encoding: chunked'], body: badChunked(f) }),
        upgrade: false,
      };
    case 4: {
      const body = Buffer.from(junkJson(f), 'utf8');
      return {
        label: 'truncated body',
        bytes: build({ method: f.pick(['POST', 'PATCH', 'PUT']), target: path, headers: [`Host: ${host}`, `Content-Length: ${body.length + f.range(1, 100_000)}`], body }),
        upgrade: false,
      };
    }
    case 5:
      return {
        label: 'conflicting framing',
        bytes: build({
          method: 'POST',
          target: path,
          headers: [`Host: ${host}`, ...f.pick([['Content-Length: 3', 'Content-Length: 5'], ['Content-Length: 4', 'Transfer-Encoding: chunked'], ['Content-Length: -3'], ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']])],
          body: '0\r\n\r\nGET / HTTP/1.1\r\n\r\n',
        }),
        upgrade: false,
      };
    case 6:
      return {
        label: 'pipelined junk',
        bytes: Buffer.concat([build({ method: 'GET', target: path, headers: [`Host: ${host}`] }), Buffer.from(f.bytes(f.size(300)))]),
        upgrade: false,
      };
    default:
      return {
        label: 'random request line',
        bytes: build({ method: f.pick(METHODS), target: f.chance(0.5) ? f.text(f.size(300)) : absoluteTarget(f, path), version: f.pick(VERSIONS), headers: Array.from({ length: f.int(6) }, () => randomHeaderLine(f)) }),
        upgrade: false,
      };
  }
}

// ---- control

const CONTROL_PATHS = ['/health', '/key', '/noise', '/', '*', '/api/v1/nodes', '/api/v1/', '/api/v1/nodes/%zz', '/health?x=%zz', '//', '/../../etc/passwd', '/key#frag', '/%00'];

/** Admin paths that are safe with a real token and a junk body (policy only by GET). */
const ADMIN_PATHS = ['/api/v1/nodes', '/api/v1/nodes/1/tags', '/api/v1/nodes/agent-a/attrs/custom:x', '/api/v1/nodes/%zz/tags', '/api/v1/keys', '/api/v1/users', '/api/v1/stats', '/api/v1/policy'];

export function controlRequest(f: Fuzz, adminToken: string): FuzzRequest {
  const host = 'control';
  switch (f.int(6)) {
    case 0:
      return framingJunk(f, host, f.pick(CONTROL_PATHS));
    case 1: {
      // An upgrade: sometimes right, mostly not, always followed by junk instead of a Noise frame.
      const target = f.chance(0.6) ? '/noise' : f.chance(0.5) ? absoluteTarget(f, '/noise') : f.pick(CONTROL_PATHS);
      return {
        label: 'upgrade with garbage',
        bytes: build({
          method: f.chance(0.8) ? 'POST' : f.pick(METHODS),
          target,
          headers: ['Host: control', 'Connection: Upgrade', `Upgrade: ${f.chance(0.7) ? 'grantwire-noise-v1' : f.text(f.int(20))}`, ...(f.chance(0.3) ? ['Content-Length: 10'] : [])],
          body: Buffer.from(f.bytes(f.size(2048))),
        }),
        upgrade: true,
      };
    }
    case 2: {
      // The admin API with the real token: junk bodies only, never DELETE, policy only read.
      const path = f.pick(ADMIN_PATHS);
      const method = path === '/api/v1/policy' ? 'GET' : f.pick(['POST', 'PUT', 'PATCH', 'GET']);
      const body = Buffer.from(junkJson(f), 'utf8');
      return {
        label: `admin ${method} ${path} with junk JSON`,
        bytes: build({ method, target: path, headers: ['Host: control', `Authorization: Bearer ${adminToken}`, 'Content-Type: application/json', `Content-Length: ${body.length}`], body }),
        upgrade: false,
      };
    }
    case 3: {
      // The admin API with a forged or broken token: any method, any path.
      const forged = adminToken.slice(0, -2) + f.text(2, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ');
      const auth = f.pick([`Bearer ${forged}`, `Bearer ${adminToken} x`, `bearer ${adminToken}`, `Bearer ${adminToken.replace('gwapi', 'gwkey')}`, 'Bearer gwapi-%zz-%zz']);
      const body = Buffer.from(junkJson(f), 'utf8');
      return {
        label: 'admin call with a forged token',
        bytes: build({ method: f.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']), target: `/api/v1/${f.pick(['nodes/1', 'keys', 'users', 'policy', f.text(f.int(30))])}`, headers: ['Host: control', `Authorization: ${auth}`, `Content-Length: ${body.length}`], body }),
        upgrade: false,
      };
    }
    case 4:
      return {
        label: 'absolute-form target',
        bytes: build({ method: f.pick(['GET', 'POST', 'HEAD', 'OPTIONS']), target: absoluteTarget(f, f.pick(CONTROL_PATHS)), headers: ['Host: control', ...Array.from({ length: f.int(3) }, () => randomHeaderLine(f))] }),
        upgrade: false,
      };
    default:
      return {
        label: 'random method, target, version and headers',
        bytes: build({ method: f.pick(METHODS), target: f.pick(CONTROL_PATHS), version: f.pick(VERSIONS), headers: Array.from({ length: f.int(8) }, () => randomHeaderLine(f)), body: f.chance(0.3) ? junkJson(f) : undefined }),
        upgrade: false,
      };
  }
}

// ---- LocalAPI

const LOCALAPI_HOST = 'local-agentd.sock';
/** No down, no logout: those succeed with any body. */
const LOCALAPI_ENDPOINTS = ['whois', 'status', 'prefs', 'explain', 'metrics', 'ping', 'watch', 'up', 'nosuch', '', 'whois/', '%2e%2e/status', 'STATUS', 'status/../down'];
const ADDRS = ['100.64.0.1', '100.64.0.1:80', '[fd7a:115c:a1e0::1]:99999', '::ffff:1.2.3.4', '1.2.3.4.5', '', '-1', '%zz', 'fe80::1%eth0', '100.64.0.1:', '[::1', '0.0.0.0'];

function randomQuery(f: Fuzz): string {
  switch (f.int(5)) {
    case 0:
      return `addr=${f.chance(0.7) ? f.pick(ADDRS) : f.chance(0.5) ? `nodekey:${hex(f, f.pick([64, 63, 65, 0]))}` : f.text(f.size(5000))}`;
    case 1: {
      const p = [
        `src=${f.pick(ADDRS)}`,
        `dst=${f.pick(ADDRS)}`,
        `proto=${f.pick(['tcp', 'udp', '0', '255', '256', '-1', 'icmp', 'ipv6-icmp', 'x', '6'.repeat(40), ''])}`,
        `dport=${f.pick(['0', '65535', '65536', '-1', 'x', '', '1e3'])}`,
        `sport=${f.pick(['1', '99999', ' 2'])}`,
      ];
      return p.filter(() => f.chance(0.8)).join('&');
    }
    case 2:
      return `ip=${f.pick(ADDRS)}&timeout=${f.pick(['-1', '0', '1', '1e9', 'x', 'NaN', '60000'])}`;
    case 3:
      return `peers=${f.pick(['false', 'true', '', '%zz'])}`;
    default:
      return f.text(f.size(300));
  }
}

export function localApiRequest(f: Fuzz): FuzzRequest {
  const ep = f.pick(LOCALAPI_ENDPOINTS);
  const path = `/localapi/v0/${ep}`;
  const host = f.chance(0.85) ? LOCALAPI_HOST : f.pick(['localhost', '', 'local-agentd.sock:80', 'evil.example']);
  if (f.chance(0.3)) return framingJunk(f, host, path);
  const method = f.pick(['GET', 'GET', 'POST', 'PATCH', 'PUT', 'HEAD', 'DELETE', 'OPTIONS']);
  const body = f.chance(0.5) || method === 'PATCH' || ep === 'up' ? Buffer.from(junkJson(f), 'utf8') : undefined;
  // An empty body is `{}` to the LocalAPI: a valid (no-op) up or prefs patch; keep a byte in it.
  const b = body !== undefined && body.length === 0 ? Buffer.from('{') : body;
  const headers = [`Host: ${host}`, ...(b ? [`Content-Length: ${b.length}`] : []), ...(f.chance(0.1) ? [f.pick(['Origin: http://evil.example', 'Referer: http://evil.example/'])] : []), ...Array.from({ length: f.int(3) }, () => randomHeaderLine(f)).filter((h) => !/^(content-length|transfer-encoding|host):/i.test(h))];
  return { label: `localapi ${method} ${ep}`, bytes: build({ method, target: `${path}${f.chance(0.7) ? `?${randomQuery(f)}` : ''}`, headers, body: b }), upgrade: false };
}
