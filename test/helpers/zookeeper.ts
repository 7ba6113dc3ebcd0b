// ZooKeeper for tests and the lab lives in src/gateway/lab/zookeeper-server.ts.
export * from '../../src/gateway/lab/zookeeper-server.js';
