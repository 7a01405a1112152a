// Control's persistent state in one SQLite file (better-sqlite3, WAL). Synchronous by design: every call
// is a short indexed statement, and one process (serve) plus short-lived admin commands share the file.
// Every mutation appends to `changes` in the same transaction, tagged with this Store's origin id, so a
// running server can pick up what admin commands did (ChangeFeed in control/change-feed.ts reads them).
//
// Not safe for use from several threads; one Store per process.
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Hostinfo } from '../types/netmap.js';
import type { PostureValue, UserRole } from '../types/tailnet.js';
import { migrate } from './schema.js';
import { prepareStateFile, tightenStateFiles, type StateFileOptions } from '../cli/state-file.js';
import { allocateHost, v4ForHost, v6ForHost } from './addresses.js';
import { GrantwireError } from '../types/errors.js';

export interface UserRow {
  id: number;
  login: string;
  name: string;
  role: UserRole;
  created: number;
}

export interface NodeRow {
  id: number;
  stableId: string;
  hostname: string;
  machineKey: string;
  nodeKey: string;
  userId: number;
  tags: string[];
  hostNum: number;
  v4: string;
  v6: string;
  endpoints: string[];
  hostinfo: Hostinfo;
  /** Effective subnet routes: advertised ∩ (approved ∪ auto-approved); see control/routes.ts. */
  routes: string[];
  /** What the agent advertises (Hostinfo.routableIPs), canonical CIDRs. */
  advertisedRoutes: string[];
  /** What an admin approved (may include routes not advertised now). */
  approvedRoutes: string[];
  ephemeral: boolean;
  created: number;
  lastSeen: number | null;
  keyExpiry: number | null;
}

export interface AuthKeyRow {
  id: string;
  hash: string;
  userId: number;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  created: number;
  expires: number | null;
  revoked: number | null;
  uses: number;
  lastUsed: number | null;
}

export interface PolicyRow {
  id: number;
  file: string;
  text: string;
  created: number;
}

export interface AttrRow {
  nodeId: number;
  name: string;
  value: PostureValue;
  expires: number | null;
}

export interface ApiTokenRow {
  id: string;
  hash: string;
  userId: number;
  created: number;
  revoked: number | null;
  /** Null: never expires (tokens made before schema 2, or without --expiry). */
  expires: number | null;
  lastUsed: number | null;
}

function tokenFromRaw(r: Raw): ApiTokenRow {
  return {
    id: r.id as string,
    hash: r.hash as string,
    userId: r.user_id as number,
    created: r.created as number,
    revoked: (r.revoked as number | null) ?? null,
    expires: (r.expires as number | null) ?? null,
    lastUsed: (r.last_used as number | null) ?? null,
  };
}

/** `access`: a new access request (its pending deadline), so a running server re-arms its expiry timer. */
export type ChangeKind = 'user' | 'node' | 'policy' | 'attr' | 'key' | 'token' | 'access';

export interface ChangeRow {
  seq: number;
  origin: string;
  kind: ChangeKind;
  ref: number;
}

export interface NewNode {
  machineKey: string;
  nodeKey: string;
  userId: number;
  hostname: string;
  tags: string[];
  hostinfo: Hostinfo;
  ephemeral: boolean;
  keyExpiry: number | null;
}

type Raw = Record<string, unknown>;

function nodeFromRaw(r: Raw): NodeRow {
  return {
    id: r.id as number,
    stableId: r.stable_id as string,
    hostname: r.hostname as string,
    machineKey: r.machine_key as string,
    nodeKey: r.node_key as string,
    userId: r.user_id as number,
    tags: JSON.parse(r.tags as string) as string[],
    hostNum: r.host_num as number,
    v4: r.v4 as string,
    v6: r.v6 as string,
    endpoints: JSON.parse(r.endpoints as string) as string[],
    hostinfo: JSON.parse(r.hostinfo as string) as Hostinfo,
    routes: JSON.parse(r.routes as string) as string[],
    advertisedRoutes: JSON.parse(r.advertised_routes as string) as string[],
    approvedRoutes: JSON.parse(r.approved_routes as string) as string[],
    ephemeral: r.ephemeral === 1,
    created: r.created as number,
    lastSeen: (r.last_seen as number | null) ?? null,
    keyExpiry: (r.key_expiry as number | null) ?? null,
  };
}

function keyFromRaw(r: Raw): AuthKeyRow {
  return {
    id: r.id as string,
    hash: r.hash as string,
    userId: r.user_id as number,
    reusable: r.reusable === 1,
    ephemeral: r.ephemeral === 1,
    tags: JSON.parse(r.tags as string) as string[],
    created: r.created as number,
    expires: (r.expires as number | null) ?? null,
    revoked: (r.revoked as number | null) ?? null,
    uses: r.uses as number,
    lastUsed: (r.last_used as number | null) ?? null,
  };
}

export class Store {
  readonly db: Database.Database;
  /** Tags this process's rows in `changes`, so the server can skip its own. */
  readonly origin = randomBytes(8).toString('hex');

  constructor(readonly path: string, opts: StateFileOptions = {}) {
    prepareStateFile(path, opts);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    tightenStateFiles(path, opts);
  }

  close(): void {
    this.db.close();
  }

  /** Prepared statements are cached: preparing costs more than running most of these queries. */
  private readonly stmts = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.stmts.set(sql, st);
    }
    return st;
  }

  /** Runs fn in one IMMEDIATE transaction (so read-then-write sequences never interleave with another process). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private changed(kind: ChangeKind, ref: number): void {
    this.stmt('INSERT INTO changes (origin, kind, ref) VALUES (?, ?, ?)').run(this.origin, kind, ref);
  }

  // --- meta ---
  getMeta(key: string): string | null {
    const r = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  // --- users ---
  addUser(login: string, name: string, role: UserRole, now = Date.now()): UserRow {
    return this.tx(() => {
      if (this.userByLogin(login)) throw new GrantwireError('ERR_CONTROL_USER_EXISTS', `user ${login} already exists`);
      const info = this.stmt('INSERT INTO users (login, name, role, created) VALUES (?, ?, ?, ?)').run(login, name, role, now);
      const id = Number(info.lastInsertRowid);
      this.changed('user', id);
      return { id, login, name, role, created: now };
    });
  }

  setUserRole(id: number, role: UserRole): void {
    this.tx(() => {
      this.stmt('UPDATE users SET role = ? WHERE id = ?').run(role, id);
      this.changed('user', id);
    });
  }

  userByLogin(login: string): UserRow | null {
    return (this.stmt('SELECT * FROM users WHERE login = ?').get(login) as UserRow | undefined) ?? null;
  }

  userById(id: number): UserRow | null {
    return (this.stmt('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined) ?? null;
  }

  listUsers(): UserRow[] {
    return this.stmt('SELECT * FROM users ORDER BY id').all() as UserRow[];
  }

  // --- auth keys ---
  insertAuthKey(k: Omit<AuthKeyRow, 'uses' | 'lastUsed' | 'revoked'>): void {
    this.tx(() => {
      this.db
        .prepare('INSERT INTO auth_keys (id, hash, user_id, reusable, ephemeral, tags, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(k.id, k.hash, k.userId, k.reusable ? 1 : 0, k.ephemeral ? 1 : 0, JSON.stringify(k.tags), k.created, k.expires);
      this.changed('key', 0);
    });
  }

  authKey(id: string): AuthKeyRow | null {
    const r = this.stmt('SELECT * FROM auth_keys WHERE id = ?').get(id) as Raw | undefined;
    return r ? keyFromRaw(r) : null;
  }

  listAuthKeys(): AuthKeyRow[] {
    return (this.stmt('SELECT * FROM auth_keys ORDER BY created, id').all() as Raw[]).map(keyFromRaw);
  }

  revokeAuthKey(id: string, now = Date.now()): boolean {
    return this.tx(() => {
      const info = this.stmt('UPDATE auth_keys SET revoked = ? WHERE id = ? AND revoked IS NULL').run(now, id);
      if (info.changes > 0) this.changed('key', 0);
      return info.changes > 0;
    });
  }

  /** Counts one use; for a one-off key only succeeds the first time (atomic, so two racing registrations cannot both win). */
  consumeAuthKey(id: string, now = Date.now()): boolean {
    const info = this.db
      .prepare('UPDATE auth_keys SET uses = uses + 1, last_used = ? WHERE id = ? AND (reusable = 1 OR uses = 0)')
      .run(now, id);
    return info.changes > 0;
  }

  // --- nodes ---
  node(id: number): NodeRow | null {
    const r = this.stmt('SELECT * FROM nodes WHERE id = ?').get(id) as Raw | undefined;
    return r ? nodeFromRaw(r) : null;
  }

  nodeByNodeKey(nodeKey: string): NodeRow | null {
    const r = this.stmt('SELECT * FROM nodes WHERE node_key = ?').get(nodeKey) as Raw | undefined;
    return r ? nodeFromRaw(r) : null;
  }

  nodeByMachineKey(machineKey: string): NodeRow | null {
    const r = this.stmt('SELECT * FROM nodes WHERE machine_key = ?').get(machineKey) as Raw | undefined;
    return r ? nodeFromRaw(r) : null;
  }

  nodeByHostname(hostname: string): NodeRow | null {
    const r = this.stmt('SELECT * FROM nodes WHERE hostname = ?').get(hostname) as Raw | undefined;
    return r ? nodeFromRaw(r) : null;
  }

  /** A node by numeric id, stable id or hostname (what admins type). */
  findNode(ref: string): NodeRow | null {
    if (/^[0-9]+$/.test(ref)) {
      const byId = this.node(Number(ref));
      if (byId) return byId;
    }
    const r = this.stmt('SELECT * FROM nodes WHERE stable_id = ? OR hostname = ?').get(ref, ref) as Raw | undefined;
    return r ? nodeFromRaw(r) : null;
  }

  listNodes(): NodeRow[] {
    return (this.stmt('SELECT * FROM nodes ORDER BY id').all() as Raw[]).map(nodeFromRaw);
  }

  /** A hostname not used by another node: `name`, else `name-1`, `name-2`, … */
  uniqueHostname(name: string, exceptNodeId = -1): string {
    const taken = (h: string): boolean => {
      const r = this.stmt('SELECT id FROM nodes WHERE hostname = ?').get(h) as { id: number } | undefined;
      return r !== undefined && r.id !== exceptNodeId;
    };
    if (!taken(name)) return name;
    for (let i = 1; ; i++) {
      const candidate = `${name.slice(0, 60)}-${i}`;
      if (!taken(candidate)) return candidate;
    }
  }

  insertNode(n: NewNode, now = Date.now()): NodeRow {
    return this.tx(() => {
      const cursor = Number(this.getMeta('next_host') ?? '1');
      const used = this.stmt('SELECT 1 FROM nodes WHERE host_num = ?');
      const hostNum = allocateHost(cursor, (h) => used.get(h) !== undefined);
      if (hostNum === null) throw new GrantwireError('ERR_CONTROL_FULL', 'no free tailnet addresses');
      this.setMeta('next_host', String(hostNum + 1));
      const hostname = this.uniqueHostname(n.hostname);
      const stableId = `n${randomBytes(8).toString('hex')}`;
      const { routableIPs, ...hostinfo } = n.hostinfo;
      const info = this.db
        .prepare(
          `INSERT INTO nodes (stable_id, hostname, machine_key, node_key, user_id, tags, host_num, v4, v6, hostinfo,
             ephemeral, created, last_seen, key_expiry, advertised_routes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(stableId, hostname, n.machineKey, n.nodeKey, n.userId, JSON.stringify(n.tags), hostNum, v4ForHost(hostNum),
          v6ForHost(hostNum), JSON.stringify(hostinfo), n.ephemeral ? 1 : 0, now, now, n.keyExpiry, JSON.stringify(routableIPs ?? []));
      const id = Number(info.lastInsertRowid);
      this.changed('node', id);
      return this.node(id)!;
    });
  }

  /** Updates the given fields of a node and records the change. */
  updateNode(
    id: number,
    fields: Partial<Pick<NodeRow, 'nodeKey' | 'userId' | 'tags' | 'hostname' | 'endpoints' | 'hostinfo' | 'routes' | 'advertisedRoutes' | 'approvedRoutes' | 'ephemeral' | 'lastSeen' | 'keyExpiry'>>,
    record = true,
  ): void {
    const cols: string[] = [];
    const vals: unknown[] = [];
    const set = (col: string, v: unknown): void => {
      cols.push(`${col} = ?`);
      vals.push(v);
    };
    if (fields.nodeKey !== undefined) set('node_key', fields.nodeKey);
    if (fields.userId !== undefined) set('user_id', fields.userId);
    if (fields.tags !== undefined) set('tags', JSON.stringify(fields.tags));
    if (fields.hostname !== undefined) set('hostname', fields.hostname);
    if (fields.endpoints !== undefined) set('endpoints', JSON.stringify(fields.endpoints));
    if (fields.hostinfo !== undefined) {
      // The agent's advertised routes ride in its hostinfo (as Tailscale's RoutableIPs); kept in their own column.
      const { routableIPs, ...rest } = fields.hostinfo;
      set('hostinfo', JSON.stringify(rest));
      if (fields.advertisedRoutes === undefined) set('advertised_routes', JSON.stringify(routableIPs ?? []));
    }
    if (fields.routes !== undefined) set('routes', JSON.stringify(fields.routes));
    if (fields.advertisedRoutes !== undefined) set('advertised_routes', JSON.stringify(fields.advertisedRoutes));
    if (fields.approvedRoutes !== undefined) set('approved_routes', JSON.stringify(fields.approvedRoutes));
    if (fields.ephemeral !== undefined) set('ephemeral', fields.ephemeral ? 1 : 0);
    if (fields.lastSeen !== undefined) set('last_seen', fields.lastSeen);
    if (fields.keyExpiry !== undefined) set('key_expiry', fields.keyExpiry);
    if (cols.length === 0) return;
    this.tx(() => {
      this.stmt(`UPDATE nodes SET ${cols.join(', ')} WHERE id = ?`).run(...vals, id);
      if (record) this.changed('node', id);
    });
  }

  deleteNode(id: number): boolean {
    return this.tx(() => {
      this.stmt('DELETE FROM attrs WHERE node_id = ?').run(id);
      const info = this.stmt('DELETE FROM nodes WHERE id = ?').run(id);
      if (info.changes > 0) this.changed('node', id);
      return info.changes > 0;
    });
  }

  // --- custom attributes ---
  setAttr(nodeId: number, name: string, value: PostureValue, expires: number | null): void {
    this.tx(() => {
      this.db
        .prepare('INSERT INTO attrs (node_id, name, value, expires) VALUES (?, ?, ?, ?) ON CONFLICT(node_id, name) DO UPDATE SET value = excluded.value, expires = excluded.expires')
        .run(nodeId, name, JSON.stringify(value), expires);
      this.changed('attr', nodeId);
    });
  }

  removeAttr(nodeId: number, name: string): boolean {
    return this.tx(() => {
      const info = this.stmt('DELETE FROM attrs WHERE node_id = ? AND name = ?').run(nodeId, name);
      if (info.changes > 0) this.changed('attr', nodeId);
      return info.changes > 0;
    });
  }

  attrsOf(nodeId: number): AttrRow[] {
    const rows = this.stmt('SELECT * FROM attrs WHERE node_id = ? ORDER BY name').all(nodeId) as Raw[];
    return rows.map((r) => ({ nodeId, name: r.name as string, value: JSON.parse(r.value as string) as PostureValue, expires: (r.expires as number | null) ?? null }));
  }

  allAttrs(): AttrRow[] {
    const rows = this.stmt('SELECT * FROM attrs ORDER BY node_id, name').all() as Raw[];
    return rows.map((r) => ({ nodeId: r.node_id as number, name: r.name as string, value: JSON.parse(r.value as string) as PostureValue, expires: (r.expires as number | null) ?? null }));
  }

  /** Deletes attributes whose expiry has passed; returns the affected node ids. */
  deleteExpiredAttrs(now: number): number[] {
    return this.tx(() => {
      const ids = (this.stmt('SELECT DISTINCT node_id FROM attrs WHERE expires IS NOT NULL AND expires <= ?').all(now) as { node_id: number }[]).map((r) => r.node_id);
      if (ids.length === 0) return ids;
      this.stmt('DELETE FROM attrs WHERE expires IS NOT NULL AND expires <= ?').run(now);
      for (const id of ids) this.changed('attr', id);
      return ids;
    });
  }

  // --- policy versions ---
  addPolicy(file: string, text: string, now = Date.now()): PolicyRow {
    return this.tx(() => {
      const info = this.stmt('INSERT INTO policies (file, text, created) VALUES (?, ?, ?)').run(file, text, now);
      const id = Number(info.lastInsertRowid);
      this.setMeta('active_policy', String(id));
      this.changed('policy', id);
      return { id, file, text, created: now };
    });
  }

  activePolicy(): PolicyRow | null {
    const id = this.getMeta('active_policy');
    if (id === null) return null;
    return (this.stmt('SELECT * FROM policies WHERE id = ?').get(Number(id)) as PolicyRow | undefined) ?? null;
  }

  listPolicies(): PolicyRow[] {
    return this.stmt('SELECT * FROM policies ORDER BY id').all() as PolicyRow[];
  }

  // --- admin API tokens ---
  insertApiToken(t: Omit<ApiTokenRow, 'revoked' | 'lastUsed' | 'expires'> & { expires?: number | null }): void {
    this.tx(() => {
      this.stmt('INSERT INTO api_tokens (id, hash, user_id, created, expires) VALUES (?, ?, ?, ?, ?)').run(t.id, t.hash, t.userId, t.created, t.expires ?? null);
      this.changed('token', 0);
    });
  }

  apiToken(id: string): ApiTokenRow | null {
    const r = this.stmt('SELECT * FROM api_tokens WHERE id = ?').get(id) as Raw | undefined;
    return r ? tokenFromRaw(r) : null;
  }

  listApiTokens(): ApiTokenRow[] {
    return (this.stmt('SELECT * FROM api_tokens ORDER BY created, id').all() as Raw[]).map(tokenFromRaw);
  }

  revokeApiToken(id: string, now = Date.now()): boolean {
    return this.tx(() => {
      const info = this.stmt('UPDATE api_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL').run(now, id);
      if (info.changes > 0) this.changed('token', 0);
      return info.changes > 0;
    });
  }

  /** Not recorded as a change: bookkeeping, not state a running server reacts to. */
  touchApiToken(id: string, now = Date.now()): void {
    this.stmt('UPDATE api_tokens SET last_used = ? WHERE id = ?').run(now, id);
  }

  /**
   * Deletes a user with everything that acts for them: their nodes (and attributes), auth keys and API
   * tokens. Keys and tokens are deleted rather than marked revoked because they reference the user row;
   * either way they can never authenticate again. Returns the removed node ids.
   */
  deleteUser(id: number): number[] {
    return this.tx(() => {
      const nodeIds = (this.stmt('SELECT id FROM nodes WHERE user_id = ?').all(id) as { id: number }[]).map((r) => r.id);
      for (const n of nodeIds) {
        this.stmt('DELETE FROM attrs WHERE node_id = ?').run(n);
        this.stmt('DELETE FROM nodes WHERE id = ?').run(n);
        this.changed('node', n);
      }
      this.stmt('DELETE FROM auth_keys WHERE user_id = ?').run(id);
      this.stmt('DELETE FROM api_tokens WHERE user_id = ?').run(id);
      this.stmt('DELETE FROM users WHERE id = ?').run(id);
      this.changed('key', 0);
      this.changed('token', 0);
      this.changed('user', id);
      return nodeIds;
    });
  }

  // --- change log ---
  /** SQLite's data_version: changes whenever ANOTHER connection commits; a cheap "anything new?" probe. */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  lastChangeSeq(): number {
    const r = this.stmt('SELECT MAX(seq) AS s FROM changes').get() as { s: number | null };
    return r.s ?? 0;
  }

  changesSince(seq: number): ChangeRow[] {
    return this.stmt('SELECT * FROM changes WHERE seq > ? ORDER BY seq').all(seq) as ChangeRow[];
  }

  /** Drops old change rows; the server calls it now and then (it only ever reads forward). */
  pruneChanges(keepAfterSeq: number): void {
    this.stmt('DELETE FROM changes WHERE seq <= ?').run(keepAfterSeq);
  }
}
