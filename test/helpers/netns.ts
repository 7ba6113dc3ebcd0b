// The namespace kit lives with the lab (src/gateway/lab/netns.ts): `tollgate lab` builds its world with it.
export * from '../../src/gateway/lab/netns.js';
