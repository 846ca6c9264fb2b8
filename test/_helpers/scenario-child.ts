// A runner in a child process, for the kill -9 test: `node scenario-child.js URL PROXY GRACE_MS`.
// Runs a scenario against the parent's faultline server (a toxic and a partition on PROXY at
// 0 ms, then a step at 1000 ms, so the run lasts a second) and prints the runner's lines.

import { runScenario } from '../../src/scenario/runner.js';
import { scenario, step, tcpProbe, toxic } from './scenario.js';

const [url, proxyName, grace] = process.argv.slice(2);
if (url === undefined || proxyName === undefined || grace === undefined) {
  console.error('usage: scenario-child.js URL PROXY GRACE_MS');
  process.exitCode = 3;
} else {
  const s = scenario(url, {
    proxies: [{ name: proxyName, listen: '127.0.0.1:0', upstream: '127.0.0.1:1', protocol: 'tcp', labels: { from: 'a', to: 'b' }, server: 'default' }],
    timeline: [
      step(0, toxic(proxyName, 'slow', { latency: 100 })),
      step(0, { kind: 'partition', groups: [['a'], ['b']], oneway: true }),
      step(1000, { kind: 'probe', probe: tcpProbe('api', url.replace(/^http:\/\//, '')) }),
    ],
  });
  const result = await runScenario(s, { out: (line) => console.log(line), graceMs: Number(grace) });
  console.log(`exit ${result.exitCode}`);
}
