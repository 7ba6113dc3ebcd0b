// Validation of stored topology objects, one at a time (against a view, when one is given) or as a
// whole set (adds duplicate ids, orphan rules and jump loops). Pure: returns issues, never throws.
// DESIGN: Virtual topology; Interfaces for people (REST CRUD is validated).
import { InMemoryTopology } from './in-memory-topology.js';
import { isTopologyObjectType, OBJECT_TYPE_LABEL, objectTypeOf, TOPOLOGY_OBJECT_TYPES } from './object-type.js';
import { checkId, IssueSink, show, type ValidationIssue } from './validate-common.js';
import { validateBridge, validatePort, validateRouter } from './validate-devices.js';
import { findJumpCycles, findJumpPath, formatJumpPath, jumpTargets, validateChain, validateRule } from './validate-rules.js';
import { validatePortGroup, validateRoute } from './validate-routes.js';
import type { Bridge, Chain, Id, Port, PortGroup, Route, Router, Rule, TopologyObject, TopologyView } from './types.js';

export type { ValidationIssue } from './validate-common.js';

/**
 * Checks one object. Without a view only the object's own fields are checked; with one, its
 * references too (peers, chains, ports, port groups, the router of a route) and whether it would
 * close a jump loop.
 */
export function validateObject(obj: TopologyObject, view?: TopologyView): readonly ValidationIssue[] {
  return collect(obj, view, true);
}

/** Checks a whole set of objects against each other. */
export function validateTopology(objects: Iterable<TopologyObject>): readonly ValidationIssue[] {
  const list = [...objects];
  const view = new InMemoryTopology(list);
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const obj of list) {
    const type = objectTypeOf(obj);
    if (!isTopologyObjectType(type)) {
      issues.push(...collect(obj, view, false));
      continue;
    }
    const key = `${type}\u0000${show(obj.id)}`;
    if (seen.has(key)) {
      const sink = new IssueSink(type, obj.id);
      sink.add('id', `${show(obj.id)} is used by more than one ${OBJECT_TYPE_LABEL[type]}`);
      issues.push(...sink.issues);
      continue;
    }
    seen.add(key);
    issues.push(...collect(obj, view, false));
    if (type === 'rule') issues.push(...orphanRuleIssues(obj as Rule, view));
  }
  // Ids that are not text were reported above and cannot be part of a jump.
  const chainIds = list.filter((o) => objectTypeOf(o) === 'chain' && typeof o.id === 'string').map((o) => o.id);
  for (const loop of findJumpCycles(chainIds, (id) => chainTargets(id, view))) {
    const sink = new IssueSink('chain', loop[0]);
    sink.add('ruleIds', `jump in a loop: ${formatJumpPath(loop)}`);
    issues.push(...sink.issues);
  }
  return issues;
}

/** The messages, one per line (for the CLI and REST error bodies). */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => i.message).join('\n');
}

function collect(obj: TopologyObject, view: TopologyView | undefined, loops: boolean): ValidationIssue[] {
  const type = objectTypeOf(obj);
  if (!isTopologyObjectType(type)) {
    const sink = new IssueSink('unknown', obj.id);
    sink.add('type', `${show(type)} is not one of ${TOPOLOGY_OBJECT_TYPES.join(', ')}`);
    return sink.issues;
  }
  const sink = new IssueSink(type, obj.id);
  checkId(sink, obj.id);
  // Switch on the computed type, not obj.type: a rule read from JSON may carry "type": undefined.
  switch (type) {
    case 'bridge':
      checkAdminState(obj as Bridge, sink);
      validateBridge(obj as Bridge, view, sink);
      break;
    case 'router':
      checkAdminState(obj as Router, sink);
      validateRouter(obj as Router, view, sink);
      break;
    case 'port':
      checkAdminState(obj as Port, sink);
      validatePort(obj as Port, view, sink);
      break;
    case 'chain':
      validateChain(obj as Chain, view, sink);
      if (loops && view !== undefined) chainLoop(obj as Chain, view, sink);
      break;
    case 'rule': {
      const rule = obj as Rule;
      validateRule(rule, view, sink);
      if (loops && view !== undefined && rule.kind === 'jump') ruleLoop(rule, view, sink);
      break;
    }
    case 'portGroup':
      validatePortGroup(obj as PortGroup, view, sink);
      break;
    case 'route':
      validateRoute(obj as Route, view, sink);
      break;
  }
  return sink.issues;
}

function checkAdminState(obj: Bridge | Router | Port, sink: IssueSink): void {
  if (typeof obj.adminStateUp !== 'boolean') sink.add('adminStateUp', `${show(obj.adminStateUp)} is not true or false`);
}

function chainTargets(id: Id, view: TopologyView): readonly Id[] {
  const chain = view.chain(id);
  return chain === undefined ? [] : jumpTargets(chain, view);
}

/** The chain as given (perhaps not yet stored) jumps, through the view, back to itself. */
function chainLoop(chain: Chain, view: TopologyView, sink: IssueSink): void {
  if (typeof chain.id !== 'string') return;
  const edges = (id: Id): readonly Id[] => (id === chain.id ? jumpTargets(chain, view) : chainTargets(id, view));
  const path = findJumpPath(chain.id, chain.id, edges);
  if (path !== undefined) sink.add('ruleIds', `jump in a loop: ${formatJumpPath(path)}`);
}

/** The jump rule's target leads, through the view, back to the rule's own chain. */
function ruleLoop(rule: Extract<Rule, { kind: 'jump' }>, view: TopologyView, sink: IssueSink): void {
  if (typeof rule.jumpChainId !== 'string' || typeof rule.chainId !== 'string') return;
  const path =
    rule.jumpChainId === rule.chainId ? [] : findJumpPath(rule.jumpChainId, rule.chainId, (id) => chainTargets(id, view));
  if (path === undefined) return;
  const loop = path.length === 0 ? [rule.chainId, rule.chainId] : [rule.chainId, ...path];
  sink.add('jumpChainId', `${show(rule.jumpChainId)} closes a jump loop: ${formatJumpPath(loop)}`);
}

/** A rule whose chain does not list it is never evaluated: almost surely a half-done edit. */
function orphanRuleIssues(rule: Rule, view: TopologyView): ValidationIssue[] {
  const chain = view.chain(rule.chainId);
  if (chain === undefined || !Array.isArray(chain.ruleIds) || chain.ruleIds.includes(rule.id)) return [];
  const sink = new IssueSink('rule', rule.id);
  sink.add('chainId', `${show(rule.chainId)} does not list this rule in its ruleIds; the rule would never be evaluated`);
  return sink.issues;
}
