// Loads the part of the virtual topology that this host's ports can reach before the first packet
// needs it (as MidoNet agents preload the devices behind their ports): ports, their devices and
// peers, chains and rules, port groups and routes — a bounded breadth-first walk through the cache.
import type { ZkTopologyCache } from '../store/index.js';
import type { Id, Port, TopologyObjectType } from '../topology/index.js';

/** Objects loaded at most by one prefetch. */
const MAX_OBJECTS = 2000;

type Item = readonly [TopologyObjectType | 'routes', Id];

export async function prefetchTopology(cache: ZkTopologyCache, portIds: readonly Id[], maxObjects = MAX_OBJECTS): Promise<number> {
  const seen = new Set<string>();
  let frontier: Item[] = portIds.map((id) => ['port', id] as const);
  let loaded = 0;
  while (frontier.length > 0 && loaded < maxObjects) {
    const batch = frontier.filter(([t, id]) => !seen.has(`${t}:${id}`)).slice(0, maxObjects - loaded);
    for (const [t, id] of batch) seen.add(`${t}:${id}`);
    frontier = [];
    const found = await Promise.all(batch.map(async ([t, id]): Promise<Item[]> => {
      loaded++;
      if (t === 'routes') {
        const routes = (await cache.ensureRoutes(id)) ?? [];
        return routes.flatMap((r) => (r.egressPortId === undefined ? [] : [['port', r.egressPortId] as const]));
      }
      const obj = await cache.ensure(t, id);
      if (obj === undefined) return [];
      return neighbours(cache, t, obj as unknown as Record<string, unknown>);
    }));
    for (const f of found) frontier.push(...f);
  }
  return loaded;
}

function chainItems(...ids: (Id | undefined)[]): Item[] {
  return ids.flatMap((id) => (id === undefined ? [] : [['chain', id] as const]));
}

function neighbours(cache: ZkTopologyCache, type: string, obj: Record<string, unknown>): Item[] {
  switch (type) {
    case 'port': {
      const p = obj as unknown as Port;
      const out: Item[] = [[p.deviceType, p.deviceId], ...chainItems(p.inboundChainId, p.outboundChainId)];
      if (p.peerId !== undefined) out.push(['port', p.peerId]);
      for (const g of cache.portGroupsOf(p.id)) out.push(['portGroup', g]);
      return out;
    }
    case 'bridge':
    case 'router': {
      const id = obj.id as Id;
      const out: Item[] = (cache.portsOf(id) ?? []).map((p) => ['port', p] as const);
      out.push(...chainItems(obj.inboundChainId as Id | undefined, obj.outboundChainId as Id | undefined, obj.preRoutingChainId as Id | undefined, obj.postRoutingChainId as Id | undefined));
      if (type === 'router') out.push(['routes', id]);
      return out;
    }
    case 'chain':
      return ((obj.ruleIds as Id[] | undefined) ?? []).map((r) => ['rule', r] as const);
    case 'rule':
      return obj.kind === 'jump' ? chainItems(obj.jumpChainId as Id) : [];
    case 'portGroup':
      return ((obj.portIds as Id[] | undefined) ?? []).map((p) => ['port', p] as const);
    default:
      return [];
  }
}
