// Adapts control/client.ts (ControlClient) to the backend's ControlSession: same calls, plus a verdict on
// each failure — did control refuse (its reason goes to the user verbatim, exit 1) or was it unreachable?
import { ControlClient, ControlError } from '../control/client.js';
import type { Hostinfo, Netmap } from '../types/netmap.js';
import { keyFromHex, keyToHex } from '../crypto/key.js';
import type { ControlRefusal, ControlSession } from './backend.js';

/** ControlError wire codes that mean "could not talk to control", not "control said no". */
const TRANSPORT_CODES = new Set(['connection', 'bad_server', 'bad_url']);

function classify(err: unknown): ControlRefusal {
  if (err instanceof ControlError) {
    const out: ControlRefusal = new Error(err.message);
    out.refused = !TRANSPORT_CODES.has(err.wireCode);
    return out;
  }
  const e = err as NodeJS.ErrnoException;
  const out: ControlRefusal = new Error(`cannot reach control: ${e?.message ?? String(err)}`);
  out.refused = false;
  return out;
}

export interface ControlSessionOptions {
  controlURL: string;
  /** Control's static key (hex) learnt at the first login; the session refuses any other. */
  pinnedKey?: string | null;
  machinePrivateKey: Uint8Array;
  nodePrivateKey: Uint8Array;
}

export function createControlSession(o: ControlSessionOptions): ControlSession {
  let client: ControlClient;
  try {
    client = new ControlClient({
      serverUrl: o.controlURL,
      machinePrivateKey: o.machinePrivateKey,
      nodePrivateKey: o.nodePrivateKey,
      ...(o.pinnedKey ? { controlPublicKey: keyFromHex(o.pinnedKey) } : {}),
    });
  } catch (err) {
    // A bad URL is the caller's mistake: report it on first use like any other refusal.
    const failure = classify(err);
    failure.refused = true;
    const fail = () => Promise.reject(failure);
    return { register: fail, streamMap: fail, logout: fail };
  }
  return {
    async register(req: { authKey: string; hostname: string; hostinfo: Hostinfo; requestTags: string[] }) {
      try {
        const { node } = await client.register({ authKey: req.authKey, hostname: req.hostname, hostinfo: req.hostinfo, requestTags: req.requestTags });
        return { nodeId: node.id, controlKey: keyToHex(await client.serverPublicKey()) };
      } catch (err) {
        throw classify(err);
      }
    },
    async streamMap(req: { endpoints: string[]; hostinfo: Hostinfo }, onNetmap: (nm: Netmap) => void, signal: AbortSignal) {
      try {
        await client.streamMap({ endpoints: req.endpoints, hostinfo: req.hostinfo }, onNetmap, signal);
      } catch (err) {
        throw classify(err);
      }
    },
    async logout() {
      try {
        await client.logout();
      } catch (err) {
        throw classify(err);
      }
    },
    updateEndpoints(eps: string[]) {
      client.updateEndpoints(eps);
    },
    updateHostinfo(hostinfo: Hostinfo) {
      client.updateHostinfo(hostinfo);
    },
    reconnect() {
      client.reconnect('network changed');
    },
  };
}
