// Applies the peer plan to gobgpd: removals first, then replacements, in-place updates and
// additions, keeping its own record of what gobgpd holds so that untouched sessions get no call.
// DESIGN: Gateway roles (reconciled on start and on reload as a difference).
import type { Logger } from 'pino';
import { peerToApi } from './api-peers.js';
import { canonicalAddress, type BgpPeerConfig } from './config.js';
import { BgpPeerApplyError, type GobgpApiError } from './errors.js';
import type { GobgpClient } from './gobgp-client.js';
import { planPeers, type PeerPlan } from './peer-plan.js';

export class PeerReconciler {
  private readonly installed = new Map<string, BgpPeerConfig>();

  constructor(private readonly log: Logger) {}

  /** A new gobgpd holds no peers. */
  reset(): void {
    this.installed.clear();
  }

  installedPeers(): readonly BgpPeerConfig[] {
    return [...this.installed.values()];
  }

  /**
   * Makes gobgpd's peers `desired`. Every peer is tried; failures are collected and thrown together
   * afterwards (BgpPeerApplyError), with the record kept true to what gobgpd accepted.
   */
  async apply(client: GobgpClient, desired: readonly BgpPeerConfig[], localAsn: number): Promise<PeerPlan> {
    const plan = planPeers(this.installed, desired, localAsn);
    const failures: { address: string; error: GobgpApiError }[] = [];
    const attempt = async (p: BgpPeerConfig, what: string, op: () => Promise<void>): Promise<void> => {
      try {
        await op();
        this.log.info({ peer: p.address, asn: p.asn, uplink: p.uplink }, `peer ${what}`);
      } catch (err) {
        failures.push({ address: p.address, error: err as GobgpApiError });
        this.log.error({ peer: p.address, err }, `peer not ${what}: ${(err as Error).message}`);
      }
    };
    for (const p of plan.remove) {
      await attempt(p, 'removed', async () => {
        await client.deletePeer(p.address);
        this.installed.delete(canonicalAddress(p.address));
      });
    }
    for (const p of plan.replace) {
      await attempt(p, 'replaced', async () => {
        await client.deletePeer(p.address);
        this.installed.delete(canonicalAddress(p.address));
        await client.addPeer(peerToApi(p, localAsn));
        this.installed.set(canonicalAddress(p.address), p);
      });
    }
    for (const p of plan.tune) {
      await attempt(p, 'updated', async () => {
        await client.updatePeer(peerToApi(p, localAsn));
        this.installed.set(canonicalAddress(p.address), p);
      });
    }
    for (const p of plan.add) {
      await attempt(p, 'added', async () => {
        await client.addPeer(peerToApi(p, localAsn));
        this.installed.set(canonicalAddress(p.address), p);
      });
    }
    // Import-side settings (uplink port, drop/warn limits) are not gobgpd's: just remember them.
    for (const p of plan.unchanged) this.installed.set(canonicalAddress(p.address), p);
    if (failures.length > 0) throw new BgpPeerApplyError(failures);
    return plan;
  }
}
