// The package root, `import { LocalClient } from 'grantwire'`: the typed LocalAPI client an app uses to ask
// the local agent who is calling (whois), the node's status and prefs, and the error classes that tell
// "no such peer" from "not allowed" from "agent unreachable". Nothing here loads SQLite, the policy
// compiler or the native addon.
//
// Other entry points (package.json `exports`): 'grantwire/policy' (the policy checker and compiler, for
// tools that lint policy files). `Node` (node/) makes the app itself a tailnet node; it loads its runtime
// (WireGuard, the control client, the netstack) only when up() is called.
export { AccessDeniedError, LocalApiError, LocalClient, PeerNotFoundError, type LocalClientOptions } from './localapi/client.js';
export { Node, NodeListener, NodeUdpSocket, type NodeOptions, type PeerRef } from './node/index.js';
export { DialError, GrantwireError } from './types/errors.js';
export { DEFAULT_SOCKET_PATH } from './localapi/socket-path.js';
export type {
  BackendState,
  ExplainQuery,
  ExplainResponse,
  PeerStatus,
  PingResponse,
  Prefs,
  PrefsPatch,
  StatusResponse,
  UpRequest,
  WatchEvent,
  WhoIsNode,
  WhoIsResponse,
  WhoIsUserProfile,
} from './localapi/types.js';
