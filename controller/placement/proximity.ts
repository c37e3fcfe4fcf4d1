/** How close two hosts are, from their names and placement labels (site, cluster, rack). A
 * label missing on either side never counts as a match: unknown is treated as far. */
export const PROXIMITIES = ['same-host', 'same-rack', 'same-cluster', 'same-site', 'remote'] as const;
export type Proximity = (typeof PROXIMITIES)[number];

export interface Placed {
  host: string;
  labels: Readonly<Record<string, string>>;
}

export function proximity(a: Placed, b: Placed): Proximity {
  if (a.host === b.host) return 'same-host';
  const same = (k: string) => a.labels[k] !== undefined && a.labels[k] === b.labels[k];
  // A rack sits in one cluster and a cluster in one site; labels that say otherwise are
  // inconsistent, and only the levels that agree from the top down count.
  const siteOk = a.labels.site === undefined && b.labels.site === undefined ? true : same('site');
  if (!siteOk) return 'remote';
  const clusterOk = a.labels.cluster === undefined && b.labels.cluster === undefined ? true : same('cluster');
  if (!clusterOk) return same('site') ? 'same-site' : 'remote';
  if (same('rack')) return 'same-rack';
  if (same('cluster')) return 'same-cluster';
  return same('site') ? 'same-site' : 'remote';
}
