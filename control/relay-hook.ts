// The relay and STUN server inside control (`control serve`, on unless --no-relay), the relay map every
// netmap carries, and the endpoint standalone relays ask (relay/remote-auth.ts). server.ts only calls
// handleRequest / handleUpgrade / start / close; decisions about who may use the relay are the
// coordinator's (isNodeKeyAuthorized). The relay's static key lives in control's state (meta
// `relay_private_key`, control/server.ts) and its public half is in the relay map, where agents pin it;
// a standalone relay's public key comes from `--extra-relay …;key=relaykey:…` (its operator copies it from
// `control relay --key-file F --print-key`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import { isNodeKey } from './protocol.js';
import { AUTHORIZE_PATH } from '../relay/remote-auth.js';
import { RelayPublic } from '../crypto/key.js';
import { RelayServer } from '../relay/server.js';
import { StunServer } from '../relay/stun-server.js';
import type { RelayMap, RelayNode } from '../types/netmap.js';

export const DEFAULT_RELAY_NAME = 'control';

export interface ControlRelayOptions {
  /** Run a relay on control's listener (RELAY_PATH). */
  relay: boolean;
  name?: string;
  /** STUN on this UDP port of control's host; 0 = the control port; null = no STUN. */
  stunPort: number | null;
  /** Standalone relays to list in the relay map too (parseRelayFlag). */
  extraRelays?: RelayNode[];
  /** Shared secret standalone relays present to AUTHORIZE_PATH (null: the endpoint is off). */
  secret?: string | null;
  recheckMs?: number;
  log?: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export class ControlRelay {
  /** The relay, once bind() gave it control's key and authorization (null with `relay: false`). */
  server: RelayServer | null = null;
  stun: StunServer | null = null;
  private authorize: (nodeKey: string) => boolean = () => false;
  private stunPortBound = 0;

  constructor(private readonly opts: ControlRelayOptions) {}

  /** Binds the coordinator's authorization and the relay's key from control's state (after they exist). */
  bind(f: (nodeKey: string) => boolean, relayPrivateKey: Uint8Array): void {
    this.authorize = f;
    if (this.opts.relay && !this.server) {
      this.server = new RelayServer({ authorize: (k) => this.authorize(k), privateKey: relayPrivateKey, recheckMs: this.opts.recheckMs, log: this.opts.log });
    }
  }

  /** The relay map; the STUN port is known once start() ran, so build the map after listening. */
  // (An entry with url '-' is STUN only.)
  relayMap(): RelayMap {
    const relays: RelayNode[] = [];
    const stunPort = this.stunPortBound;
    if (this.server) relays.push({ name: this.opts.name ?? DEFAULT_RELAY_NAME, url: '', stunHost: '', stunPort, publicKey: RelayPublic.text(this.server.publicKey) });
    else if (stunPort) relays.push({ name: 'stun', url: '-', stunHost: '', stunPort });
    for (const r of this.opts.extraRelays ?? []) relays.push(r);
    return { relays };
  }

  async start(host: string, controlPort: number): Promise<void> {
    if (this.opts.stunPort === null) return;
    const port = this.opts.stunPort === 0 ? controlPort : this.opts.stunPort;
    this.stun = await StunServer.listen(host === '0.0.0.0' || host === '::' ? '' : host, port);
    this.stunPortBound = this.stun.port;
  }

  get stunPort(): number {
    return this.stunPortBound;
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    if (pathname === AUTHORIZE_PATH) {
      this.onAuthorize(req, res);
      return true;
    }
    return this.server?.handleRequest(req, res, pathname) ?? false;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pathname: string): boolean {
    return this.server?.handleUpgrade(req, socket, head, pathname) ?? false;
  }

  async close(): Promise<void> {
    this.server?.close();
    await this.stun?.close();
  }

  private onAuthorize(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const secret = this.opts.secret;
    const got = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    const want = Buffer.from(secret ?? '');
    if (!secret || req.method !== 'POST' || got.length !== want.length || !timingSafeEqual(got, want)) {
      req.resume();
      return send(403, { error: 'relay secret required', code: 'forbidden' });
    }
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > 1024) req.destroy();
    });
    req.on('end', () => {
      let key: unknown;
      try {
        key = (JSON.parse(text) as { nodeKey?: unknown }).nodeKey;
      } catch {
        return send(400, { error: 'malformed JSON', code: 'bad_request' });
      }
      if (!isNodeKey(key)) return send(400, { error: 'bad nodeKey', code: 'bad_request' });
      send(200, { authorized: this.authorize(key) });
    });
  }
}

/**
 * `--extra-relay NAME=URL;key=relaykey:HEX[;stun=PORT]` (options in any order) → a relay map entry (STUN on
 * the URL's host). The key is required: agents refuse a relay they cannot pin.
 */
export function parseRelayFlag(text: string): RelayNode | null {
  const m = /^([A-Za-z0-9._-]{1,64})=(https?:\/\/[^;\s]+)((?:;[a-z]+=[^;\s]+)*)$/.exec(text);
  if (!m) return null;
  try {
    new URL(m[2]);
  } catch {
    return null;
  }
  let stunPort = 0;
  let key: string | null = null;
  for (const opt of m[3].split(';').slice(1)) {
    const [k, v] = opt.split('=', 2) as [string, string];
    if (k === 'stun' && /^[0-9]{1,5}$/.test(v) && Number(v) <= 65535) stunPort = Number(v);
    else if (k === 'key' && key === null && RelayPublic.tryParse(v)) key = RelayPublic.text(RelayPublic.tryParse(v)!);
    else return null;
  }
  if (key === null) return null;
  return { name: m[1], url: m[2], stunHost: '', stunPort, publicKey: key };
}
