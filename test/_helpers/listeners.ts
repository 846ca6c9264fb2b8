// The TCP and UDP ports this very process has bound, read from /proc: the kernel's view, so a
// listener that no proxy owns any more is still found.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function socketInodes(pid: number | 'self'): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed while we looked
    }
  }
  return inodes;
}

/** Local ports of `pid`'s TCP listeners (state 0A) and bound UDP sockets (state 07, unconnected). */
export function boundPorts(pid: number | 'self' = 'self'): { tcp: Set<number>; udp: Set<number> } {
  const mine = socketInodes(pid);
  const read = (files: string[], state: string): Set<number> => {
    const ports = new Set<number>();
    for (const file of files) {
      let text = '';
      try { text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8'); } catch { continue; }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10) continue;
        const [, local, remote, st] = cols;
        if (st !== state || !mine.has(cols[9]!)) continue;
        // An unconnected UDP socket has no remote; connected ones are sessions' upstream sockets.
        if (state === '07' && !/^0+:0000$/.test(remote!)) continue;
        ports.add(parseInt(local!.split(':').pop()!, 16));
      }
    }
    return ports;
  };
  return { tcp: read(['tcp', 'tcp6'], '0A'), udp: read(['udp', 'udp6'], '07') };
}

/** How many descriptors `pid` has open. */
export function openFds(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
