export * from '../../../src/gateway/lab/lab-servers.js';
