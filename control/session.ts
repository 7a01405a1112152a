// One agent connection after the Noise handshake: reads its single request (register, map or logout),
// checks that the request's node key is proven and belongs to the machine that authenticated the channel,
// and answers. A map connection stays open as a stream (netmaps + keep-alives out, updates in).
//
// Security decisions made here:
// - The machine key is the channel's Noise static key, never a message field.
// - Every request carries a node-key proof bound to this session's handshake hash (node-key-proof.ts).
// - map/logout only for a node whose stored machine key is this channel's: a node cannot read another
//   node's map even if it knows that node's public key.
import type { NoiseChannel } from './channel.js';
import type { Coordinator } from './coordinator.js';
import type { Logger } from './logger.js';
import { verifyNodeKeyProof } from './node-key-proof.js';
import { parseClientMessage, type ClientMessage, type ControlErrorCode, type ServerMessage } from './protocol.js';
import { netmapNodeOf } from './views.js';
import type { DhPrivateKey } from '../crypto/backend.js';
import { MachinePublic, NodePublic } from '../crypto/key.js';
import type { Hostinfo } from '../types/netmap.js';
import type { LiveStreams } from './live-streams.js';
import { UpdateLimiter, type UpdateRate } from './update-limiter.js';

export interface SessionOptions {
  coordinator: Coordinator;
  controlKey: DhPrivateKey;
  logger: Logger;
  keepAliveMs: number;
  /** Drop a stream whose socket has this much unsent data (a stalled reader); it reconnects and resyncs. */
  maxQueuedBytes?: number;
  firstMessageTimeoutMs?: number;
  /** Called once when the first request arrives: the channel leaves the pre-auth state (preauth-limits.ts). */
  onFirstMessage?: () => void;
  /** At most one live map stream per node: a new one closes the old (live-streams.ts). */
  liveStreams?: LiveStreams;
  updateRate?: UpdateRate;
}

/** Cap on the first request (register, map or logout are a few KiB); the 64 MiB channel limit is for netmaps. */
export const FIRST_MESSAGE_MAX_BYTES = 64 * 1024;
/** Cap on later agent messages (updates carry endpoints and hostinfo). */
export const AGENT_MESSAGE_MAX_BYTES = 1024 * 1024;

const MIN_KEEPALIVE_MS = 100;
const MAX_KEEPALIVE_MS = 60_000;

function send(ch: NoiseChannel, msg: ServerMessage): void {
  ch.send(JSON.stringify(msg));
}

function fail(ch: NoiseChannel, code: ControlErrorCode, message: string): void {
  send(ch, { type: 'error', code, message });
  ch.close(code);
}

export function runSession(ch: NoiseChannel, opts: SessionOptions): void {
  const machineKey = MachinePublic.text(ch.remoteStatic);
  const { coordinator, logger } = opts;
  let first = true;
  let onUpdate: ((m: ClientMessage) => void) | null = null;
  ch.maxMessageBytes = FIRST_MESSAGE_MAX_BYTES;
  const timer = setTimeout(() => ch.close('no request'), opts.firstMessageTimeoutMs ?? 10_000);
  timer.unref();
  ch.onClose(() => clearTimeout(timer));

  const proven = (nodeKey: string, proof: string): boolean => {
    const key = NodePublic.tryParse(nodeKey); // shape-checked by parseClientMessage; still network input
    return key !== null && verifyNodeKeyProof(opts.controlKey, key, ch.handshakeHash, ch.remoteStatic, proof);
  };

  ch.onMessage((text) => {
    const msg = parseClientMessage(text);
    if (typeof msg === 'string') {
      logger.log('debug', 'bad request from agent', { reason: msg });
      return fail(ch, 'bad_request', msg);
    }
    if (!first) {
      if (onUpdate) return onUpdate(msg);
      return fail(ch, 'bad_request', 'one request per connection');
    }
    first = false;
    clearTimeout(timer);
    opts.onFirstMessage?.();
    switch (msg.type) {
      case 'register': {
        if (!proven(msg.nodeKey, msg.nodeKeyProof)) return fail(ch, 'bad_node_key_proof', 'node key proof does not verify');
        const out = coordinator.register({
          machineKey,
          nodeKey: msg.nodeKey,
          authKey: msg.authKey,
          hostname: msg.hostname,
          hostinfo: msg.hostinfo,
          requestTags: msg.requestTags,
        });
        if (!out.ok) {
          logger.log('info', 'registration refused', { code: out.code, reason: out.message, hostname: msg.hostname });
          return fail(ch, out.code, out.message);
        }
        logger.log('info', out.created ? 'node registered' : 'node re-registered', {
          node: out.node.hostname,
          id: out.node.id,
          key: out.authKeyId ?? undefined,
          tags: out.node.tags.join(',') || undefined,
          ephemeral: out.node.ephemeral || undefined,
        });
        send(ch, { type: 'registered', node: netmapNodeOf(out.node, coordinator.isOnline(out.node.id), true) });
        ch.close('done');
        return;
      }
      case 'logout': {
        if (!proven(msg.nodeKey, msg.nodeKeyProof)) return fail(ch, 'bad_node_key_proof', 'node key proof does not verify');
        const node = coordinator.nodeByNodeKey(msg.nodeKey);
        if (!node || node.machineKey !== machineKey) return fail(ch, 'unknown_node', 'node is not registered to this machine');
        coordinator.logout(node.id);
        send(ch, { type: 'loggedout' });
        ch.close('done');
        return;
      }
      case 'map': {
        if (!proven(msg.nodeKey, msg.nodeKeyProof)) return fail(ch, 'bad_node_key_proof', 'node key proof does not verify');
        const node = coordinator.nodeByNodeKey(msg.nodeKey);
        if (!node || node.machineKey !== machineKey) return fail(ch, 'unknown_node', 'node is not registered to this machine');
        if (!coordinator.isActive(node)) return fail(ch, 'node_key_expired', 'node key expired; register again');
        const nodeId = node.id;
        coordinator.updateFromAgent(nodeId, { endpoints: msg.endpoints, hostinfo: msg.hostinfo });
        const maxQueued = opts.maxQueuedBytes ?? 32 * 1024 * 1024;
        const end = coordinator.openStream(nodeId, {
          send(json) {
            if (ch.queuedBytes > maxQueued) {
              logger.log('warn', 'map stream not reading; closing it', { id: nodeId });
              ch.close('slow reader');
              return;
            }
            ch.send(json);
          },
          kick(code, message) {
            send(ch, { type: 'error', code, message });
            ch.close(code);
          },
        });
        const wanted = msg.keepAliveMs ?? opts.keepAliveMs;
        const interval = Math.min(MAX_KEEPALIVE_MS, Math.max(MIN_KEEPALIVE_MS, Math.min(wanted, opts.keepAliveMs)));
        const ka = setInterval(() => send(ch, { type: 'keepalive' }), interval);
        ka.unref();
        const limiter = new UpdateLimiter<{ endpoints?: string[]; hostinfo?: Hostinfo }>((u) => coordinator.updateFromAgent(nodeId, u), opts.updateRate);
        ch.maxMessageBytes = AGENT_MESSAGE_MAX_BYTES;
        onUpdate = (m) => {
          if (m.type !== 'update') return fail(ch, 'bad_request', 'only updates on a map stream');
          limiter.offer({ endpoints: m.endpoints, hostinfo: m.hostinfo });
        };
        // After openStream, so closing the replaced stream never makes the node look offline.
        const unclaim = opts.liveStreams?.claim(nodeId, () => ch.close('replaced by a newer stream')) ?? (() => {});
        const finish = (): void => {
          clearInterval(ka);
          limiter.stop();
          unclaim();
          end();
        };
        ch.onClose(finish);
        if (ch.isClosed) finish();
        return;
      }
      default:
        return fail(ch, 'bad_request', 'expected register, map or logout');
    }
  });
}
