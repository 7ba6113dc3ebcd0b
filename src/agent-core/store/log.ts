// Loggers of the store: pino children with a `component` key (STYLE: Logs). The agent passes its
// own logger; without one the store logs warnings and errors to stderr.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

let fallback: Logger | undefined;

export function storeLogger(parent: Logger | undefined, component: string): Logger {
  fallback ??= pino({ name: 'tollgate', level: process.env.TOLLGATE_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  return (parent ?? fallback).child({ component });
}
