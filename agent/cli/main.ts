// bin/agent: the node daemon, the CLI that drives it over the LocalAPI, and the standalone WireGuard
// mode. `--socket PATH` may stand before or after the subcommand (issue 6); it is lifted out here and
// passed on through GRANTWIRE_SOCKET so every command reads one place.
import { dispatch, type CommandModule } from '../../cli/args.js';

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  wg: () => import('./wg.js'),
  daemon: () => import('./daemon.js'),
  up: () => import('./up.js'),
  down: () => import('./down.js'),
  logout: () => import('./logout.js'),
  status: () => import('./status.js'),
  whois: () => import('./whois.js'),
  ping: () => import('./ping.js'),
  netcheck: () => import('./netcheck.js'),
  ip: () => import('./ip.js'),
  explain: () => import('./explain.js'),
  metrics: () => import('./metrics.js'),
  set: () => import('./set.js'),
};

/** Removes `--socket PATH` / `--socket=PATH` wherever it stands and exports it as GRANTWIRE_SOCKET. */
export function liftSocketFlag(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--socket' && i + 1 < argv.length) {
      process.env.GRANTWIRE_SOCKET = argv[++i];
    } else if (a.startsWith('--socket=')) {
      process.env.GRANTWIRE_SOCKET = a.slice('--socket='.length);
    } else {
      out.push(a);
    }
  }
  return out;
}

const args = process.argv.slice(2);
// `agent daemon --socket PATH` keeps its own flag: the daemon is the one that listens on it.
process.exitCode = await dispatch('agent', args[0] === 'daemon' ? args : liftSocketFlag(args), COMMANDS);
