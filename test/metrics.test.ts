// GET /metrics' content: prom-client text from createMetrics, parsed back line by line and
// checked against exact counts driven through a real EventBus.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventBus } from '../src/events/bus.js';
import { createMetrics, type MetricsDeps } from '../src/events/metrics.js';
import type { Protocol } from '../src/toxic.js';

interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  /** `name{k="v",...}` with labels sorted -> value. */
  samples: Map<string, number>;
  duplicates: string[];
}

const seriesKey = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;

/** The text exposition format: `# HELP`, `# TYPE` and `name{labels} value` lines. */
function parse(text: string): Exposition {
  const out: Exposition = { help: new Map(), type: new Map(), samples: new Map(), duplicates: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][\w:]*) (.*)$/.exec(line);
    if (meta) {
      const map = meta[1] === 'HELP' ? out.help : out.type;
      if (map.has(meta[2]!)) out.duplicates.push(line);
      map.set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const rest = (m[2] ?? '').replace(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?/g, (_all, k: string, v: string) => {
      labels[k] = v.replace(/\\(.)/g, (_e, c: string) => (c === 'n' ? '\n' : c));
      return '';
    });
    if (rest !== '') throw new Error(`bad labels in: ${line}`);
    const key = seriesKey(m[1]!, labels);
    if (out.samples.has(key)) out.duplicates.push(key);
    out.samples.set(key, Number(m[3]));
  }
  return out;
}

interface Fixture {
  bus: EventBus;
  proxies: Array<{ name: string; protocol: Protocol }>;
  live: Array<{ proxy: string; up: number; down: number }>;
  store: { failures: number; dropped: number };
  scrape(): Promise<Exposition>;
  /** One sample's value; undefined when the series is absent. */
  value(exp: Exposition, name: string, labels?: Record<string, string>): number | undefined;
  close(): void;
}

function fixture(withStore = true): Fixture {
  const bus = new EventBus();
  const f = {
    bus, proxies: [] as Fixture['proxies'], live: [] as Fixture['live'], store: { failures: 0, dropped: 0 },
  };
  const deps: MetricsDeps = { bus, collection: { list: () => f.proxies }, liveBytes: () => f.live };
  if (withStore) deps.storeStats = () => ({ ...f.store });
  const metrics = createMetrics(deps);
  return {
    ...f,
    scrape: async () => parse(await metrics.text()),
    value: (exp, name, labels = {}) => exp.samples.get(seriesKey(`faultline_${name}`, labels)),
    close: () => { metrics.close(); bus.close(); },
  };
}

const conn = (proxy: string, protocol: Protocol, n: number) =>
  ({ proxy, protocol, conn: `${proxy}-${n}`, client: '127.0.0.1:1', upstream: '127.0.0.1:2' });

const fault = (proxy: string, type: string, stream: 'upstream' | 'downstream', action: 'delayed' | 'closed' | 'sliced', protocol: Protocol = 'tcp') =>
  ({ proxy, protocol, conn: 'c', client: 'x', toxic: `${type}_${stream}`, type, stream, action, detail: {} });

test('the exposition is valid: HELP and TYPE for every family, counters end in _total, no duplicates', async () => {
  const f = fixture();
  try {
    f.proxies.push({ name: 'we"ird\\name', protocol: 'tcp' });
    f.bus.fault(fault('we"ird\\name', 'latency', 'downstream', 'delayed'));
    const exp = await f.scrape();
    assert.equal(exp.duplicates, []);
    const ours = ['bytes_total', 'connections_opened_total', 'connections_closed_total', 'connections_active', 'faults_total',
      'fault_events_folded_total', 'store_write_failures_total', 'store_events_dropped_total'];
    for (const name of ours) {
      assert.ok(exp.help.get(`faultline_${name}`), `HELP for faultline_${name}`);
      assert.is(exp.type.get(`faultline_${name}`), name === 'connections_active' ? 'gauge' : 'counter', name);
    }
    for (const [family, type] of exp.type) {
      assert.ok(family.startsWith('faultline_'), `${family} has the faultline_ prefix`);
      assert.ok(exp.help.has(family), `HELP for ${family}`);
      if (type === 'counter') assert.ok(family.endsWith('_total'), `counter ${family} ends in _total`);
    }
    for (const key of exp.samples.keys()) {
      const name = key.slice(0, key.indexOf('{'));
      const family = exp.type.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(exp.type.has(family), `sample ${key} belongs to a declared family`);
    }
    assert.ok(exp.type.has('faultline_process_cpu_user_seconds_total'), 'default metrics are collected');
    assert.is(f.value(exp, 'faults_total', { proxy: 'we"ird\\name', protocol: 'tcp', type: 'latency', stream: 'downstream', action: 'delayed' }), 1,
      'label values are escaped and parse back');
  } finally {
    f.close();
  }
});

test('faults_total counts every fault by proxy, protocol, type, stream and action; folded events are summed', async () => {
  const f = fixture();
  try {
    let streamed = 0;
    f.bus.on('fault:injected', () => streamed++);
    for (let i = 0; i < 120; i++) f.bus.fault(fault('p', 'latency', 'downstream', 'delayed'));
    for (let i = 0; i < 2; i++) f.bus.fault(fault('p', 'timeout', 'upstream', 'closed'));
    f.bus.fault(fault('q', 'slicer', 'downstream', 'sliced', 'udp'));
    f.bus.close(); // flushes what the rate limit folded as fault:folded events
    f.bus.emit('fault:folded', { id: 'x', ts: 1, proxy: 'q', toxic: 't', action: 'sliced', count: 4 });
    const exp = await f.scrape();
    const faults = [...exp.samples].filter(([k]) => k.startsWith('faultline_faults_total{'));
    assert.equal(new Map(faults), new Map([
      [seriesKey('faultline_faults_total', { proxy: 'p', protocol: 'tcp', type: 'latency', stream: 'downstream', action: 'delayed' }), 120],
      [seriesKey('faultline_faults_total', { proxy: 'p', protocol: 'tcp', type: 'timeout', stream: 'upstream', action: 'closed' }), 2],
      [seriesKey('faultline_faults_total', { proxy: 'q', protocol: 'udp', type: 'slicer', stream: 'downstream', action: 'sliced' }), 1],
    ]));
    assert.ok(streamed < 123, `the rate limit folded some of the 120 latency faults (streamed ${streamed})`);
    assert.is(f.value(exp, 'fault_events_folded_total', { proxy: 'p' }), 123 - streamed);
    assert.is(f.value(exp, 'fault_events_folded_total', { proxy: 'q' }), 4);
    const again = await f.scrape();
    assert.equal([...again.samples].filter(([k]) => k.startsWith('faultline_fault')), [...exp.samples].filter(([k]) => k.startsWith('faultline_fault')),
      'scraping again does not count twice');
  } finally {
    f.close();
  }
});

test('bytes_total adds closed connections (from conn:closed) to live ones, per proxy and direction', async () => {
  const f = fixture();
  try {
    f.proxies.push({ name: 'p', protocol: 'tcp' }, { name: 'idle', protocol: 'udp' });
    f.bus.connectionClosed({ ...conn('p', 'tcp', 1), bytesUp: 10, bytesDown: 20, durationMs: 1, reason: 'eof' });
    f.bus.connectionClosed({ ...conn('p', 'tcp', 2), bytesUp: 5, bytesDown: 7, durationMs: 1, reason: 'eof' });
    f.live.push({ proxy: 'p', up: 100, down: 200 }, { proxy: 'p', up: 1, down: 1 }, { proxy: 'gone', up: 3, down: 4 });
    let exp = await f.scrape();
    const bytes = (proxy: string, direction: string) => f.value(exp, 'bytes_total', { proxy, direction });
    assert.equal([bytes('p', 'upstream'), bytes('p', 'downstream')], [116, 228]);
    assert.equal([bytes('gone', 'upstream'), bytes('gone', 'downstream')], [3, 4]);
    assert.equal([bytes('idle', 'upstream'), bytes('idle', 'downstream')], [0, 0], 'configured proxies start at zero');
    // The 100/200 connection ends having moved 150/260: it leaves the live list for the closed totals.
    f.live.splice(0, 1);
    f.bus.connectionClosed({ ...conn('p', 'tcp', 3), bytesUp: 150, bytesDown: 260, durationMs: 1, reason: 'eof' });
    exp = await f.scrape();
    assert.equal([bytes('p', 'upstream'), bytes('p', 'downstream')], [166, 288]);
    assert.is([...exp.samples.keys()].filter((k) => k.startsWith('faultline_bytes_total{')).length, 6);
  } finally {
    f.close();
  }
});

test('connections opened, closed and active per proxy and protocol', async () => {
  const f = fixture();
  try {
    f.proxies.push({ name: 'p', protocol: 'tcp' }, { name: 'u', protocol: 'udp' }, { name: 'quiet', protocol: 'tcp' });
    for (let i = 0; i < 3; i++) f.bus.connectionOpened(conn('p', 'tcp', i));
    f.bus.connectionOpened(conn('u', 'udp', 0));
    f.bus.connectionClosed({ ...conn('p', 'tcp', 0), bytesUp: 0, bytesDown: 0, durationMs: 1, reason: 'eof' });
    const exp = await f.scrape();
    const row = (proxy: string, protocol: Protocol) => ['connections_opened_total', 'connections_closed_total', 'connections_active']
      .map((name) => f.value(exp, name, { proxy, protocol }));
    assert.equal(row('p', 'tcp'), [3, 1, 2]);
    assert.equal(row('u', 'udp'), [1, 0, 1]);
    assert.equal(row('quiet', 'tcp'), [0, 0, 0]);
    assert.is([...exp.samples.keys()].filter((k) => k.startsWith('faultline_connections_active{')).length, 3);
  } finally {
    f.close();
  }
});

test('store failures and drops come from storeStats at each scrape, and read 0 without a store', async () => {
  const f = fixture();
  const bare = fixture(false);
  try {
    f.store.failures = 3;
    f.store.dropped = 12;
    let exp = await f.scrape();
    assert.equal([f.value(exp, 'store_write_failures_total'), f.value(exp, 'store_events_dropped_total')], [3, 12]);
    f.store.failures = 4;
    exp = await f.scrape();
    assert.equal([f.value(exp, 'store_write_failures_total'), f.value(exp, 'store_events_dropped_total')], [4, 12]);
    const none = await bare.scrape();
    assert.equal([bare.value(none, 'store_write_failures_total'), bare.value(none, 'store_events_dropped_total')], [0, 0]);
  } finally {
    f.close();
    bare.close();
  }
});

test('each instance has its own registry, and close() stops counting', async () => {
  const a = fixture();
  const b = fixture();
  try {
    a.bus.connectionOpened(conn('p', 'tcp', 1));
    b.bus.connectionOpened(conn('p', 'tcp', 1));
    b.bus.connectionOpened(conn('p', 'tcp', 2));
    const [ea, eb] = [await a.scrape(), await b.scrape()];
    assert.is(a.value(ea, 'connections_opened_total', { proxy: 'p', protocol: 'tcp' }), 1);
    assert.is(b.value(eb, 'connections_opened_total', { proxy: 'p', protocol: 'tcp' }), 2);
    a.close();
    a.bus.connectionOpened(conn('p', 'tcp', 3));
    assert.is(a.value(await a.scrape(), 'connections_opened_total', { proxy: 'p', protocol: 'tcp' }), 1);
  } finally {
    a.close();
    b.close();
  }
});

test.run();
