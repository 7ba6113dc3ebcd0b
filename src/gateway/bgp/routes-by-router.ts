// Learned routes into the store per provider router (DESIGN: Store — /tables/routers/{id}/routes/
// {hostId}): the BGP role reports routes by egress uplink port; each uplink belongs to one provider
// router, whose LearnedRoutesWriter of this host stores them.
import type { Logger } from 'pino';
import { LearnedRoutesWriter, type LearnedRoute, type ZkClient } from '../../agent-core/store/index.js';
import type { Id } from '../../agent-core/topology/index.js';
import type { LearnedRoutesSink } from '../../bgp/index.js';

export interface RoutesByRouterOptions {
  readonly zk: ZkClient;
  readonly hostId: Id;
  readonly root: string;
  readonly logger?: Logger;
}

export class RoutesByRouter implements LearnedRoutesSink {
  private readonly writers = new Map<Id, LearnedRoutesWriter>();
  private readonly routerOfPort = new Map<Id, Id>();
  /** Routes whose egress port belongs to no configured uplink (none are expected; counted). */
  unrouted = 0;

  constructor(private readonly options: RoutesByRouterOptions) {}

  /**
   * Which provider router each uplink port belongs to (from the uplinks in the config). Ports of
   * uplinks removed since are remembered: the withdrawal of their routes must still find the writer.
   */
  addUplinks(uplinks: readonly { readonly portId: Id; readonly routerId: Id }[]): void {
    for (const u of uplinks) this.routerOfPort.set(u.portId, u.routerId);
  }

  async update(changes: { readonly add?: Iterable<LearnedRoute>; readonly remove?: Iterable<LearnedRoute> }): Promise<void> {
    const byRouter = new Map<Id, { add: LearnedRoute[]; remove: LearnedRoute[] }>();
    const slot = (r: LearnedRoute): { add: LearnedRoute[]; remove: LearnedRoute[] } | undefined => {
      const routerId = this.routerOfPort.get(r.egressPortId);
      if (routerId === undefined) {
        this.unrouted++;
        return undefined;
      }
      let s = byRouter.get(routerId);
      if (s === undefined) byRouter.set(routerId, (s = { add: [], remove: [] }));
      return s;
    };
    for (const r of changes.remove ?? []) slot(r)?.remove.push(r);
    for (const r of changes.add ?? []) slot(r)?.add.push(r);
    await Promise.all([...byRouter].map(([routerId, c]) => this.writer(routerId).update(c)));
  }

  close(): void {
    for (const w of this.writers.values()) w.close();
    this.writers.clear();
  }

  private writer(routerId: Id): LearnedRoutesWriter {
    let w = this.writers.get(routerId);
    if (w === undefined) {
      const { zk, hostId, root, logger } = this.options;
      this.writers.set(routerId, (w = new LearnedRoutesWriter(zk, { routerId, hostId, root, logger })));
    }
    return w;
  }
}
