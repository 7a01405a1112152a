// The agent's persistent state in its --state-dir: the machine key and node key (X25519 private keys) and
// the prefs plus what the last login established. Everything is written 0600 (the directory 0700) via a
// temp file + rename, so a crash never leaves a half-written key. A dir or file that group or others can
// reach, or another user owns, is refused at load (unless --insecure-state-perms). Restarting the daemon reads this back
// and resumes without a new login.
import { storedRoutePrefs } from '../localapi/route-prefs.js';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { privateFileProblem } from '../cli/state-file.js';
import { GrantwireError } from '../types/errors.js';
import type { Prefs } from '../localapi/types.js';
import { MachinePrivate, NodePrivate } from '../crypto/key.js';

export interface PersistedState {
  prefs: Prefs;
  /** Set once control accepted this node key; cleared by logout. */
  registered: boolean;
  /** Node id control assigned (informational). */
  nodeId: number | null;
  /**
   * Control's static Noise key (hex) as learnt at the first login to prefs.ControlURL; pinned for every
   * later session (trust on first use), so an on-path attacker cannot pose as control afterwards.
   */
  controlKey: string | null;
}

export interface AgentKeys {
  machinePrivateKey: Uint8Array;
  nodePrivateKey: Uint8Array;
}

export const DEFAULT_PREFS: Prefs = {
  ControlURL: '',
  Hostname: '',
  AdvertiseTags: [],
  WantRunning: false,
  ShieldsUp: false,
  LoggedOut: true,
};

const MACHINE_KEY_FILE = 'machine.key';
const NODE_KEY_FILE = 'node.key';
const STATE_FILE = 'state.json';

async function writeSecret(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

type PrivateForm = typeof MachinePrivate | typeof NodePrivate;

/** `privkey:<hex>` as written below; bare hex (a hand-made file) is read too. */
function parseKeyFile(path: string, text: string, form: PrivateForm): Uint8Array {
  const t = text.trim();
  try {
    return form.parse(t.includes(':') ? t : `${form.prefix}${t}`);
  } catch (err) {
    throw new GrantwireError('ERR_STATE_KEY', `${path}: not a 32-byte hex private key (${(err as Error).message})`, { cause: err });
  }
}

function parseState(path: string, text: string): PersistedState {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    throw new GrantwireError('ERR_STATE_FILE', `${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const o = (typeof j === 'object' && j !== null ? j : {}) as Partial<PersistedState>;
  const p = (typeof o.prefs === 'object' && o.prefs !== null ? o.prefs : {}) as Partial<Prefs>;
  return {
    prefs: {
      ControlURL: typeof p.ControlURL === 'string' ? p.ControlURL : DEFAULT_PREFS.ControlURL,
      Hostname: typeof p.Hostname === 'string' ? p.Hostname : DEFAULT_PREFS.Hostname,
      AdvertiseTags: Array.isArray(p.AdvertiseTags) ? p.AdvertiseTags.filter((t): t is string => typeof t === 'string') : [],
      WantRunning: p.WantRunning === true,
      ShieldsUp: p.ShieldsUp === true,
      LoggedOut: p.LoggedOut !== false,
      ...storedRoutePrefs(p as Record<string, unknown>),
    },
    registered: o.registered === true,
    nodeId: typeof o.nodeId === 'number' ? o.nodeId : null,
    controlKey: typeof o.controlKey === 'string' && /^[0-9a-f]{64}$/.test(o.controlKey) ? o.controlKey : null,
  };
}

export interface StateStoreOptions {
  /** Use a state dir or key file that group or others can reach, or another user owns (--insecure-state-perms). */
  insecurePerms?: boolean;
  /** The uid that must own the files (default: process.getuid()); tests inject one. */
  uid?: number | null;
}

export class StateStore {
  private readonly uid: number | null;

  constructor(
    readonly dir: string,
    private readonly opts: StateStoreOptions = {},
  ) {
    this.uid = opts.uid !== undefined ? opts.uid : (process.getuid?.() ?? null);
  }

  /**
   * Refuses a path group or others can reach, or another user owns (control/state-file.ts): the keys in
   * it let anyone pose as this node. Never silently repaired: a key that was readable may have leaked.
   */
  private async checkPrivate(path: string): Promise<void> {
    const problem = privateFileProblem(path, await stat(path), this.uid, false);
    if (problem !== null && !this.opts.insecurePerms) {
      throw new GrantwireError('ERR_STATE_PERMS', `refusing to use the agent state: ${problem} (or pass --insecure-state-perms)`);
    }
  }

  /** Creates the directory (0700) and any missing key; returns the keys. */
  async loadKeys(): Promise<AgentKeys> {
    if ((await mkdir(this.dir, { recursive: true, mode: 0o700 })) !== undefined) await chmod(this.dir, 0o700);
    await this.checkPrivate(this.dir);
    return {
      machinePrivateKey: await this.loadOrCreateKey(MACHINE_KEY_FILE, MachinePrivate),
      nodePrivateKey: await this.loadOrCreateKey(NODE_KEY_FILE, NodePrivate),
    };
  }

  private async loadOrCreateKey(name: string, form: PrivateForm): Promise<Uint8Array> {
    const path = join(this.dir, name);
    const text = await readOptional(path);
    if (text !== null) {
      await this.checkPrivate(path);
      return parseKeyFile(path, text, form);
    }
    const key = form.generate();
    await writeSecret(path, `${form.text(key)}\n`);
    return key;
  }

  /** Replaces the node key (after logout a node comes back as a new node). */
  async rotateNodeKey(): Promise<Uint8Array> {
    const key = NodePrivate.generate();
    await writeSecret(join(this.dir, NODE_KEY_FILE), `${NodePrivate.text(key)}\n`);
    return key;
  }

  async loadState(): Promise<PersistedState> {
    const path = join(this.dir, STATE_FILE);
    const text = await readOptional(path);
    if (text === null) return { prefs: { ...DEFAULT_PREFS }, registered: false, nodeId: null, controlKey: null };
    await this.checkPrivate(path);
    return parseState(path, text);
  }

  async saveState(s: PersistedState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeSecret(join(this.dir, STATE_FILE), JSON.stringify(s, null, 2) + '\n');
  }
}
