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
