// Which streams a named partition cuts. One function, shared by the validator (a partition
// must cut something), the dry-run plan and the runner, so all three agree.
//
// A proxy labelled {from: A, to: B} carries traffic from service A (the client) to service B
// (the server): its `upstream` stream is A -> B, its `downstream` stream is B -> A. A partition
// cuts every proxy whose two ends fall in different groups: both streams, or with `oneway`
// (exactly two groups) only the traffic from the first group to the second, which is the
// upstream of a proxy from the first group to the second and the downstream of a proxy from
// the second group to the first. Proxies without both labels are never cut.

import type { Action, Scenario, ScenarioProxy } from './types.js';

export interface PartitionCut {
  proxy: string;
  stream: 'upstream' | 'downstream';
}

type Partition = Extract<Action, { kind: 'partition' }>;

/** The cuts over a list of proxies, in proxy order, upstream before downstream. */
export function cutsOf(
  proxies: readonly Pick<ScenarioProxy, 'name' | 'labels'>[], groups: readonly (readonly string[])[], oneway: boolean,
): PartitionCut[] {
  const groupOf = (service: string | undefined): number =>
    service === undefined ? -1 : groups.findIndex((g) => g.includes(service));
  const cuts: PartitionCut[] = [];
  for (const proxy of proxies) {
    const from = groupOf(proxy.labels.from);
    const to = groupOf(proxy.labels.to);
    if (from < 0 || to < 0 || from === to) continue;
    if (!oneway || (from === 0 && to === 1)) cuts.push({ proxy: proxy.name, stream: 'upstream' });
    if (!oneway || (from === 1 && to === 0)) cuts.push({ proxy: proxy.name, stream: 'downstream' });
  }
  return cuts;
}

/** The streams a partition step cuts in a parsed scenario. */
export function partitionCuts(scenario: Scenario, action: Partition): PartitionCut[] {
  return cutsOf(scenario.proxies, action.groups, action.oneway);
}
