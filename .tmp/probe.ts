import { addUser, createAuthKey } from '../control/admin-ops.js';
import { Coordinator } from '../control/coordinator.js';
import { silentLogger } from '../control/logger.js';
import { policyEngine } from '../control/policy-engine.js';
import { Store } from '../control/store.js';
import { hexToBytes } from '../crypto/bytes.js';
import { MachinePublic, NodePublic } from '../crypto/key.js';
import { PeerVisibility } from '../control/peer-visibility.js';
const NODES = 10000, GRANTS = 1000, USERS = 500, GROUPS = 50, TAGS = 200;
function policyText(): string {
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < GROUPS; g++) groups[`group:g${g}`] = Array.from({ length: USERS / GROUPS }, (_, i) => `u${g * (USERS / GROUPS) + i}@example.com`);
  const tagOwners: Record<string, string[]> = {};
  for (let t = 0; t < TAGS; t++) tagOwners[`tag:t${t}`] = [`group:g${t % GROUPS}`];
  const grants: object[] = [];
  for (let i = 0; i < GRANTS; i++) {
    switch (i % 5) {
      case 0: grants.push({ src: [`group:g${i % GROUPS}`], dst: [`tag:t${i % TAGS}`], ip: [`tcp:${1000 + (i % 5000)}`] }); break;
      case 1: grants.push({ src: [`tag:t${i % TAGS}`], dst: [`tag:t${(i * 7 + 3) % TAGS}`], ip: ['tcp:443', 'udp:53'] }); break;
      case 2: grants.push({ src: [`u${i % USERS}@example.com`], dst: [`group:g${(i + 3) % GROUPS}`], ip: ['22'] }); break;
      case 3: grants.push({ src: ['autogroup:member'], dst: [`tag:t${i % TAGS}`], ip: ['tcp:8000-8100'], srcPosture: ['posture:linux'] }); break;
      default: grants.push({ src: [`group:g${i % GROUPS}`], dst: [`tag:t${(i + 11) % TAGS}`], ip: ['tcp:5432'], app: { 'example.com/cap/db': [{ role: `r${i}` }] } });
    }
  }
  return JSON.stringify({ groups, tagOwners, postures: { 'posture:linux': ["node:os == 'linux'"] }, grants }, null, 1);
}

/** 32 distinct key bytes per (node, salt). */
function key32(i: number, salt: number): Uint8Array {
  return hexToBytes((salt.toString(16).padStart(8, '0') + i.toString(16).padStart(8, '0')).repeat(4));
}

function setup(): { store: Store; joinKey: string } {
  const store = new Store(':memory:');
  store.tx(() => {
    for (let u = 0; u < USERS; u++) addUser(store, `u${u}@example.com`, u < 10 ? 'admin' : 'member');
    for (let i = 0; i < NODES; i++) {
      const tagged = i % 5 < 2;
      store.insertNode({
        machineKey: MachinePublic.text(key32(i, 1)),
        nodeKey: NodePublic.text(key32(i, 2)),
        userId: 1 + (i % USERS),
        hostname: `node-${i}`,
        tags: tagged ? [`tag:t${i % TAGS}`] : [],
        hostinfo: { hostname: `node-${i}`, os: i % 3 === 0 ? 'macos' : 'linux', agentVersion: '1.0.0' },
        ephemeral: false,
        keyExpiry: null,
      });
    }
  });
  store.addPolicy('bench.hujson', policyText());
  return { store, joinKey: createAuthKey(store, { user: 'u7@example.com', reusable: true }).key };
}

const { store } = setup();
const c = new Coordinator({ store, engine: policyEngine, logger: silentLogger, pollIntervalMs: 3_600_000 });
c.start();
// instrument
const proto = PeerVisibility.prototype as any;
let calls = 0, len = 0, resolves = 0, rlen = 0, t = 0;
const origSet = proto.setSources;
proto.setSources = function (id: number, s: Iterable<readonly string[]>) { const arr = [...s]; calls++; len += arr.length; const t0 = performance.now(); origSet.call(this, id, arr); t += performance.now() - t0; };
const origRes = proto.resolve;
let tr = 0;
proto.resolve = function (src: readonly string[]) { resolves++; rlen += src.length; const t0 = performance.now(); const r = origRes.call(this, src); tr += performance.now() - t0; return r; };
const t0 = performance.now();
c.precomputeAll();
console.log('precompute', (performance.now() - t0).toFixed(0), 'ms; setSources', calls, 'arrays', len, 'time', t.toFixed(0), '; resolves', resolves, 'total len', rlen, 'time', tr.toFixed(0));
