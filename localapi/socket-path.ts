// Where the LocalAPI socket lives: an explicit option, else GRANTWIRE_SOCKET, else the system default.
// Shared by the daemon (which listens) and every client (CLI, apps).

export const DEFAULT_SOCKET_PATH = '/var/run/grantwire/agentd.sock';

export function resolveSocketPath(explicit?: string | null): string {
  if (explicit) return explicit;
  const env = process.env.GRANTWIRE_SOCKET;
  return env && env.length > 0 ? env : DEFAULT_SOCKET_PATH;
}
