// bin/control: the coordination server and its admin commands. Each command lives in its own module,
// loaded on demand; this file is only the table (the command names are a contract, issue 2/3/5).
import { dispatch, type CommandModule } from '../../cli/args.js';

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  'policy check': () => import('./policy-check.js'),
  'policy compile': () => import('./policy-compile.js'),
  'policy eval': () => import('./policy-eval.js'),
  'policy set': () => import('./policy-set.js'),
  'policy get': () => import('./policy-get.js'),
  serve: () => import('./serve.js'),
  relay: () => import('./relay.js'),
  users: () => import('./users.js'),
  keys: () => import('./keys.js'),
  nodes: () => import('./nodes.js'),
  attrs: () => import('./attrs.js'),
  access: () => import('./access.js'),
  webhooks: () => import('./webhooks.js'),
  audit: () => import('./audit.js'),
  'console link': () => import('./console.js'),
};

process.exitCode = await dispatch('control', process.argv.slice(2), COMMANDS);
