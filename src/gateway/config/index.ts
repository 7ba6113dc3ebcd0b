// The agent's YAML configuration (DESIGN: Interfaces for people): load, check, and the typed result.
export { loadConfig, checkConfig, parseConfigText, type ConfigCheckResult, type ParseConfigOptions } from './load-config.js';
export { ConfigError, formatProblem, type ConfigProblem } from './problems.js';
export { CONFIG_SCHEMA_PATH, readConfigSchema } from './schema-validator.js';
export { parseHostPort, isLoopback, type HostPort } from './formats.js';
export type * from './types.js';
