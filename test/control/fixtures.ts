// Shared test policy for the control suites.
export const POLICY = `{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {
    "tag:web": ["group:eng"],
    "tag:db": ["bob@example.com"],
    "tag:ci": ["autogroup:admin"],
    "tag:worker": ["tag:ci"],
  },
  "postures": {"posture:jit": ["custom:jit == true"]},
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]},
    {"src": ["autogroup:member"], "dst": ["tag:db"], "ip": ["tcp:5432"], "srcPosture": ["posture:jit"]},
  ],
}`;

/**
 * POLICY plus SSH from every member (untagged) device to every other one and to the web and db servers,
 * and web → db: for suites about peers, since a node is sent only the peers the policy relates it to.
 */
export const MESH_POLICY = POLICY.replace(
  '"grants": [',
  '"grants": [\n    {"src": ["autogroup:member"], "dst": ["autogroup:member", "tag:web", "tag:db"], "ip": ["tcp:22"]},\n    {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:80"]},',
);
