// preact + htm, bound once: every page imports `html` from here.
import { h } from '../vendor/preact.js';
import htm from '../vendor/htm.js';

export const html = htm.bind(h);
