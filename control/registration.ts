// Registration decisions (control.md "Identity and keys"): which auth key, which user, which tags, new
// node or an existing one. The machine key comes from the authenticated Noise channel and the node key has
// been proven by the caller (server.ts), so this module decides only on state. Outcomes:
//
//   same node key, same machine, not expired → the existing node (any auth key is ignored, none consumed,
//                                               so an agent restarting with a used one-off key resumes)
//   same node key, OTHER machine             → refused: node_key_in_use
//   otherwise a valid auth key is required   → invalid / expired / revoked / already used are refused
//   requested (or key) tags must be permitted → else `requested tags [..] are invalid or not permitted`
//   a known node may keep or drop tags; adding one needs a valid auth key whose creator owns it
//   same machine key with a new node key      → the existing node, re-keyed (id and addresses kept)
import type { Hostinfo } from '../types/netmap.js';
import type { ControlErrorCode } from './protocol.js';
import { auditRegistration } from './registration-audit.js';
import { isTag, sanitizeHostname } from './protocol.js';
import { parseSecret, secretMatches } from './secrets.js';
import type { TagPolicy } from './policy-engine.js';
import type { AuthKeyRow, NodeRow, Store, UserRow } from './store.js';

export const DEFAULT_NODE_KEY_EXPIRY_MS = 180 * 86_400_000;

/** The refusal text the agent shows (a contract: localapi.md, control.md). */
export function tagsRefusal(denied: readonly string[]): string {
  return `requested tags [${denied.join(' ')}] are invalid or not permitted`;
}

export interface RegisterInput {
  machineKey: string;
  nodeKey: string;
  authKey?: string;
  hostname: string;
  hostinfo: Hostinfo;
  requestTags: string[];
}

export type RegisterOutcome =
  | { ok: true; node: NodeRow; created: boolean; authKeyId: string | null }
  | { ok: false; code: ControlErrorCode; message: string };

export interface RegisterContext {
  store: Store;
  /** The active policy's tag ownership (policy/tag-owners.ts, through the policy engine). */
  tagRules: TagPolicy;
  now: number;
  nodeKeyExpiryMs?: number;
}

function refuse(code: ControlErrorCode, message: string): RegisterOutcome {
  return { ok: false, code, message };
}

export function registerNode(ctx: RegisterContext, req: RegisterInput): RegisterOutcome {
  // One IMMEDIATE transaction: the key check, its consumption, the node write and its audit entry cannot
  // interleave with a concurrent registration (another connection, or an admin command in another process).
  return ctx.store.tx(() => {
    const before = ctx.store.nodeByNodeKey(req.nodeKey) ?? ctx.store.nodeByMachineKey(req.machineKey);
    const out = decide(ctx, req);
    auditRegistration(ctx.store, before, out, ctx.now);
    return out;
  });
}

function decide(ctx: RegisterContext, req: RegisterInput): RegisterOutcome {
  const { store, now } = ctx;
  const byNodeKey = store.nodeByNodeKey(req.nodeKey);
  if (byNodeKey && byNodeKey.machineKey !== req.machineKey) {
    return refuse('node_key_in_use', 'node key is registered to another machine');
  }
  const notExpired = (n: NodeRow): boolean => n.keyExpiry === null || n.keyExpiry > now;
  if (byNodeKey && notExpired(byNodeKey)) return reRegister(ctx, byNodeKey, req);

  const checked = usableKey(ctx, req.authKey);
  if (!checked.ok) return checked;
  const { key, user } = checked;

  const requested = req.requestTags.length > 0 ? req.requestTags : key.tags;
  const malformed = requested.filter((t) => !isTag(t));
  const denied = [...malformed, ...ctx.tagRules.deniedTags({ login: user.login, role: user.role, tags: key.tags }, requested.filter(isTag))];
  if (denied.length > 0) return refuse('tags_not_permitted', tagsRefusal(denied));
  if (!store.consumeAuthKey(key.id, now)) return refuse('auth_key_used', 'auth key already used');

  const tags = [...new Set(requested)].sort();
  const keyExpiry = now + (ctx.nodeKeyExpiryMs ?? DEFAULT_NODE_KEY_EXPIRY_MS);
  const existing = byNodeKey ?? store.nodeByMachineKey(req.machineKey);
  if (existing) {
    store.updateNode(existing.id, {
      nodeKey: req.nodeKey,
      userId: user.id,
      tags,
      hostinfo: req.hostinfo,
      ephemeral: key.ephemeral,
      keyExpiry,
      lastSeen: now,
    });
    return { ok: true, node: store.node(existing.id) as NodeRow, created: false, authKeyId: key.id };
  }
  const node = store.insertNode(
    {
      machineKey: req.machineKey,
      nodeKey: req.nodeKey,
      userId: user.id,
      hostname: sanitizeHostname(req.hostname || req.hostinfo.hostname),
      tags,
      hostinfo: req.hostinfo,
      ephemeral: key.ephemeral,
      keyExpiry,
    },
    now,
  );
  return { ok: true, node, created: true, authKeyId: key.id };
}

/** The auth key named by `text` if it can register a node now, with its creator; else the refusal. */
function usableKey(ctx: RegisterContext, text: string | undefined): { ok: true; key: AuthKeyRow; user: UserRow } | { ok: false; code: ControlErrorCode; message: string } {
  const { store, now } = ctx;
  if (text === undefined || text === '') return { ok: false, code: 'invalid_auth_key', message: 'auth key required' };
  const parsed = parseSecret(text, 'gwkey');
  if (!parsed) return { ok: false, code: 'invalid_auth_key', message: 'invalid auth key' };
  const key = store.authKey(parsed.id);
  if (!key || !secretMatches(parsed.secret, key.hash)) return { ok: false, code: 'invalid_auth_key', message: 'invalid auth key' };
  if (key.revoked !== null) return { ok: false, code: 'auth_key_revoked', message: 'auth key revoked' };
  if (key.expires !== null && key.expires <= now) return { ok: false, code: 'auth_key_expired', message: 'auth key expired' };
  if (!key.reusable && key.uses > 0) return { ok: false, code: 'auth_key_used', message: 'auth key already used' };
  const user = store.userById(key.userId);
  if (!user) return { ok: false, code: 'invalid_auth_key', message: 'invalid auth key' };
  return { ok: true, key, user };
}

/**
 * A known node registering again with its own keys: refresh hostinfo. It may keep or drop tags freely (a
 * subset never grants more), but a tag it does not have yet needs an auth key, presented now, whose
 * creator owns that tag; the node's original key creator is not asked, so a node registered with an
 * admin's `tag:ci` key cannot later help itself to `tag:prod`. Admins retag with `control nodes tags`.
 */
function reRegister(ctx: RegisterContext, node: NodeRow, req: RegisterInput): RegisterOutcome {
  const { store } = ctx;
  const wanted = [...new Set(req.requestTags)].sort();
  const fields: Parameters<Store['updateNode']>[1] = { hostinfo: req.hostinfo, lastSeen: ctx.now };
  if (req.requestTags.length > 0 && wanted.join(',') !== node.tags.join(',')) {
    const malformed = wanted.filter((t) => !isTag(t));
    if (malformed.length > 0) return refuse('tags_not_permitted', tagsRefusal(malformed));
    const added = wanted.filter((t) => !node.tags.includes(t));
    if (added.length > 0) {
      if (req.authKey === undefined || req.authKey === '') {
        return refuse('tags_not_permitted', `${tagsRefusal(added)}: adding tags to a registered node needs an auth key whose creator owns them`);
      }
      const checked = usableKey(ctx, req.authKey);
      if (!checked.ok) return checked;
      const denied = ctx.tagRules.deniedTags({ login: checked.user.login, role: checked.user.role, tags: checked.key.tags }, added);
      if (denied.length > 0) return refuse('tags_not_permitted', tagsRefusal(denied));
      if (!store.consumeAuthKey(checked.key.id, ctx.now)) return refuse('auth_key_used', 'auth key already used');
    }
    fields.tags = wanted;
  }
  // A renamed machine is renamed here too (unless the new name only differs by our uniqueness suffix).
  const wantedName = store.uniqueHostname(sanitizeHostname(req.hostname || req.hostinfo.hostname), node.id);
  if (wantedName !== node.hostname && !node.hostname.startsWith(`${wantedName.replace(/-\d+$/, '')}-`)) fields.hostname = wantedName;
  store.updateNode(node.id, fields);
  return { ok: true, node: store.node(node.id) as NodeRow, created: false, authKeyId: null };
}
