// npm start — a demo tailnet on this machine: control (embedded SQLite, examples/least-privilege.hujson)
// and five agents in their own network namespaces — a tagged prod server, the tagged SQL playground
// (examples/tailsql.ts), an engineer's laptop (alice), an analyst's laptop (bob) and a prod engineer's
// laptop (carol) — plus a subnet router (tag:router) in front of a small "LAN" namespace (203.0.113.0/24,
// an intranet host at 203.0.113.10), its route approved by the policy's autoApprovers, and one embedded node:
// the SQL playground as its own node (examples/tailsql-embedded.ts, no daemon, no TUN, run as user nobody).
// Prints what each can reach and what whois says, then stays up until Ctrl-C and removes the namespaces and
// the processes it started.
// The policy is examples/least-privilege.hujson plus the router's tag, grant and autoApprovers (added to a
// copy in the demo's directory, so the example stays what the e2e suite tests).
import type { ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeConsole } from './lab/console-bridge.js';
import { labPrerequisites, ROOT, TailnetLab, tail, AGENT_BIN, CONTROL_BIN, CONTROL_PORT, TSX_LOADER } from './lab/tailnet-lab.js';

const EXAMPLE_POLICY = join(ROOT, 'examples', 'least-privilege.hujson');
const LAN = '203.0.113.0/24';
const LAN_HOST = '203.0.113.10';

/** The example policy plus the subnet router: its tag, engineers' access to the LAN's web port, autoApprovers. */
function demoPolicy(text: string): string {
  const out = text
    .replace('"tagOwners": {', '"tagOwners": {\n    "tag:router":      ["group:engineering"],')
    .replace('"grants": [', `"autoApprovers": {"routes": {"${LAN}": ["tag:router"]}},\n  "grants": [\n    // the LAN behind the subnet router: engineers reach its intranet on tcp/80\n    {"src": ["group:engineering"], "dst": ["${LAN}"], "ip": ["tcp:80"]},`);
  if (out === text || !out.includes('tag:router') || !out.includes('autoApprovers')) throw new Error(`${EXAMPLE_POLICY}: cannot add the subnet router (tagOwners or grants not found)`);
  return out;
}
const PROBE = 'scripts/lab/probe.ts';
const say = (s = '') => process.stdout.write(s + '\n');

const missing = labPrerequisites();
if (missing.length > 0) {
  process.stderr.write(`npm start needs:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'grantwire-demo-'));
const POLICY = join(dir, 'policy.hujson');
writeFileSync(POLICY, demoPolicy(readFileSync(EXAMPLE_POLICY, 'utf8')));
const lab = new TailnetLab('gwd-', dir);
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('\nStopping: killing the demo processes and deleting the gwd-* namespaces…');
    await lab.cleanup();
    say('Done.');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

function waitReady(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not start`)), 30_000);
    child.stdout!.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

async function reach(from: string, to: string, port: number, ip: Record<string, string>): Promise<string> {
  const r = await lab.runTs(from, PROBE, ['connect', '--host', ip[to], '--port', String(port), '--timeout', '1500']);
  return r.code === 0 ? 'yes' : 'no';
}

async function main(): Promise<void> {
  say(`grantwire demo tailnet (state and logs in ${dir})\n`);
  say(`1. control on ${lab.controlURL}, policy ${POLICY}`);
  // Also on the hub's loopback, where the console bridge (below) reaches it as a loopback caller.
  await lab.startControl(POLICY, ['--listen', `0.0.0.0:${CONTROL_PORT}`]);
  for (const [login, role] of [['admin@example.com', 'admin'], ['alice@example.com', 'member'], ['bob@example.com', 'member'], ['carol@example.com', 'member']] as const) await lab.addUser(login, role);
  const consoleUrl = (await bridgeConsole(lab, CONTROL_PORT)).url;
  const signIn = await lab.mustControl(['console', 'link', '--as', 'admin@example.com', '--expiry', '1h', '--url', consoleUrl]);
  say(`   admin console: ${consoleUrl}/admin/ (served to loopback callers only without TLS; bridged from the hub namespace)`);
  say(`   sign in as admin@example.com (one-time link, 1 hour): ${signIn}`);
  const keys = {
    alice: await lab.createKey('alice@example.com', { reusable: true }),
    bob: await lab.createKey('bob@example.com', { reusable: true }),
    carol: await lab.createKey('carol@example.com', { reusable: true }),
  };

  const plan: { name: string; key: string; tags?: string[]; who: string }[] = [
    { name: 'prod', key: keys.alice, tags: ['tag:prod-server'], who: 'production server, tagged by alice (group:engineering owns tag:prod-server)' },
    { name: 'sql', key: keys.carol, tags: ['tag:tailsql'], who: 'SQL playground (examples/tailsql.ts), tagged by carol (group:prod)' },
    { name: 'eng', key: keys.alice, who: "alice's laptop (group:engineering)" },
    { name: 'analyst', key: keys.bob, who: "bob's laptop (group:analytics)" },
    { name: 'carol', key: keys.carol, who: "carol's laptop (group:engineering, group:prod)" },
    { name: 'lanrouter', key: keys.alice, tags: ['tag:router'], who: `subnet router for ${LAN} (tag:router, approved by autoApprovers)` },
  ];
  // Engineers' and the analyst's laptops use subnet routes; the router advertises the LAN.
  const extra: Record<string, string[]> = { eng: ['--accept-routes'], analyst: ['--accept-routes'], carol: ['--accept-routes'], lanrouter: ['--advertise-routes', LAN] };
  say('2. agents, each in its own network namespace:');
  const ip: Record<string, string> = {};
  // Started side by side; printed in plan order.
  await Promise.all(
    plan.map(async (p) => {
      await lab.addNode(p.name);
      const r = await lab.up(p.name, p.key, { tags: p.tags, extra: extra[p.name] });
      if (r.code !== 0) throw new Error(`agent up on ${p.name} failed: ${r.stderr}\n${tail(lab.node(p.name).logFile)}`);
      ip[p.name] = await lab.ip4(p.name);
    }),
  );
  for (const p of plan) say(`   ${p.name.padEnd(9)} ${ip[p.name].padEnd(12)} ns gwd-${p.name.padEnd(9)} ${p.who}`);
  const lanNs = lab.addLan('lan', `${LAN_HOST}/24`, [{ node: 'lanrouter', cidr: '203.0.113.1/24' }]);
  say(`   the LAN: namespace ${lanNs}, host ${LAN_HOST} behind lanrouter (203.0.113.1), which masquerades tailnet traffic`);
  const refused = await lab.up('analyst', keys.bob, { tags: ['tag:prod-server'] });
  say(`   (bob asking for tag:prod-server is refused: "${refused.stderr.trim().replace(/^agent up: /, '')}"; his laptop keeps running untagged)`);

  say('\n3. services: an echo "SSH" on prod:22 and "postgres" on prod:5432, the SQL playground on sql:443');
  const ssh = lab.spawnTsPiped('prod', PROBE, ['serve', '--host', ip.prod, '--port', '22']);
  const pg = lab.spawnTsPiped('prod', PROBE, ['serve', '--host', ip.prod, '--port', '5432']);
  const app = lab.spawnTsPiped('sql', 'examples/tailsql.ts', ['--port', '443']);
  await Promise.all([waitReady(ssh, 'prod:22'), waitReady(pg, 'prod:5432'), waitReady(app, 'tailsql')]);
  lab.scope.spawn(lanNs, process.execPath, ['--import', TSX_LOADER, join(ROOT, PROBE), 'serve', '--host', LAN_HOST, '--port', '80'], { logFile: join(dir, 'lan-intranet.log') });
  ip.intranet = LAN_HOST;
  say(`   and an "intranet" on ${LAN_HOST}:80 in the LAN (not a tailnet node)`);
  const embedded = await startEmbedded(keys.carol);
  say(`   sqlembed ${embedded.ip.padEnd(12)} ns gwd-embed    embedded node: examples/tailsql-embedded.ts as user nobody (no daemon, no TUN, no root), tag:tailsql`);

  say('\n4. who can reach what (a real TCP connection through the tunnels, 1.5 s timeout):');
  const targets: [string, number, string][] = [
    ['prod', 22, 'prod tcp/22'],
    ['prod', 5432, 'prod tcp/5432 (jit)'],
    ['sql', 443, 'sql tcp/443'],
    ['eng', 22, 'eng tcp/22'],
    ['intranet', 80, 'LAN intranet tcp/80'],
  ];
  const sources = ['eng', 'analyst', 'carol', 'prod'];
  const cells = await Promise.all(sources.map((s) => Promise.all(targets.map(([t, port]) => (s === t ? Promise.resolve('-') : reach(s, t, port, ip))))));
  say(`   ${'from \\ to'.padEnd(10)}${targets.map(([, , label]) => label.padEnd(22)).join('')}`);
  sources.forEach((s, i) => say(`   ${s.padEnd(10)}${cells[i].map((c) => c.padEnd(22)).join('')}`));

  say('\n5. routes (control nodes routes) and the engineer’s view:');
  say((await lab.mustControl(['nodes', 'routes'])).replace(/^/gm, '   ').trimEnd());
  say((await lab.mustAgent('eng', ['status'])).replace(/^/gm, '   ').trimEnd());

  say('\n6. what prod sees (agent status on prod):');
  say((await lab.mustAgent('prod', ['status'])).replace(/^/gm, '   ').trimEnd());

  say('\n7. whois on the SQL playground node, for each caller:');
  for (const caller of ['analyst', 'carol', 'eng']) {
    say(`   $ agent whois ${ip[caller]}   # ${caller}`);
    say((await lab.mustAgent('sql', ['whois', ip[caller]])).replace(/^/gm, '     ').trimEnd());
  }

  say('\n8. the playground authorizes each request from whois (capability example.com/cap/tailsql, dataSrc):');
  for (const [caller, path] of [['analyst', '/query?src=warehouse'], ['analyst', '/query?src=finance'], ['carol', '/query?src=prod-db'], ['eng', '/']] as const) {
    const r = await lab.runTs(caller, PROBE, ['http', '--url', `http://${ip.sql}:443${path}`, '--timeout', '5000']);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    say(`   ${caller.padEnd(8)} GET ${path.padEnd(22)} → ${line}`);
  }

  const ns = (n: string) => `sudo ip netns exec gwd-${n} ${AGENT_BIN} --socket ${lab.node(n).socket}`;
  say('\n9. try it yourself (in another terminal):');
  say(`   ${ns('eng')} status`);
  say(`   ${ns('eng')} ping prod`);
  say(`   ${ns('prod')} explain --src ${ip.analyst} --dst ${ip.prod} --proto tcp --dport 22`);
  say(`   ${ns('prod')} metrics | grep drops`);
  say(`   just-in-time database access for bob, 1 minute:`);
  say(`   sudo ${CONTROL_BIN} attrs set analyst custom:jit-prod true --expiry 1m --state ${lab.stateFile}`);
  say(`   edit a copy of the policy and apply it (takes effect within a second, cutting revoked connections):`);
  say(`   sudo ${CONTROL_BIN} policy set my-policy.hujson --state ${lab.stateFile}`);
  say(`   the admin console as bob (a member: his devices and requests): a one-time sign-in link`);
  say(`   sudo ${CONTROL_BIN} console link --as bob@example.com --url ${consoleUrl} --state ${lab.stateFile}`);
  say(`   the subnet router: sudo ${CONTROL_BIN} nodes routes --state ${lab.stateFile}`);
  say(`   sudo ${CONTROL_BIN} nodes routes unapprove lanrouter ${LAN} --state ${lab.stateFile}   # autoApprovers still approve it`);
  say(`   the embedded node (sqlembed) from carol's laptop, and who it is:`);
  say(`   cd ${ROOT} && sudo ip netns exec gwd-carol ${process.execPath} --import tsx ${PROBE} http --url http://${embedded.ip}:443/query?src=prod-db`);
  say(`   ${ns('carol')} whois ${embedded.ip}`);
  say(`   logs: ${dir}/*.log`);
  say('\nThe tailnet stays up until Ctrl-C.');
  await new Promise(() => undefined);
}

/** The SQL playground as an embedded node in its own namespace (no daemon there), dropped to nobody. */
async function startEmbedded(key: string): Promise<{ ip: string }> {
  lab.addNetns('embed');
  const NOBODY = 65534;
  const state = join(dir, 'embed-state');
  mkdirSync(state, { mode: 0o700 });
  chownSync(state, NOBODY, NOBODY);
  const keyFile = join(state, 'auth-key');
  writeFileSync(keyFile, key, { mode: 0o600 });
  chownSync(keyFile, NOBODY, NOBODY);
  const args = ['--dir', join(state, 'node'), '--control-url', lab.controlURL, '--auth-key', `file:${keyFile}`, '--hostname', 'sqlembed', '--tags', 'tag:tailsql', '--port', '443'];
  const child = lab.spawnTsPiped('embed', 'examples/tailsql-embedded.ts', args, { uid: process.getuid?.() === 0 ? NOBODY : undefined });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the embedded node did not come up: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      const m = /http:\/\/([0-9.]+):/.exec(d.toString());
      if (!m) return;
      clearTimeout(t);
      resolve({ ip: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`the embedded node exited with ${code}: ${err}`)));
  });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`\nnpm start failed: ${(err as Error).message}\n`);
  await shutdown(1);
});
