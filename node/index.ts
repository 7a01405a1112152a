// Embedded tailnet nodes (`import { Node } from 'grantwire'`): see node.ts.
export { Node, type NodeOptions, type PeerRef } from './node.js';
export { NodeListener, NodeUdpSocket } from './listener.js';
