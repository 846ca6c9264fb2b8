// A game-day scenario after parsing: every duration in milliseconds, every default filled in.
// The parser (parse.ts) produces it from YAML or JSON; the planner and the runner consume it.
// The file's keys are fixed so that scenarios are portable and checkable.

export interface Scenario {
  title: string;
  description?: string;
  tags: string[];
  /** Server name -> API base URL. `default` is always present (from --url / FAULTLINE_URL). */
  servers: Record<string, string>;
  proxies: ScenarioProxy[];
  steadyState: SteadyState | null;
  haltWhen: HaltCondition[];
  timeline: Step[];
  /** When the last step (including its `for`) ends, in ms from the start of the timeline. */
  durationMs: number;
}

export interface ScenarioProxy {
  name: string;
  listen: string;
  upstream: string;
  protocol: 'tcp' | 'udp' | 'http' | 'dns';
  /** Service names at each end, for named partitions. */
  labels: { from?: string; to?: string };
  server: string;
}

export interface SteadyState {
  /** Also checked continuously at this interval while the timeline runs; null: only before
   *  and after. */
  duringMs: number | null;
  probes: Probe[];
}

export type Probe =
  | { name: string; kind: 'tcp'; address: string; timeoutMs: number }
  | {
    name: string; kind: 'http'; url: string; status: number | null; body: RegExp | null;
    maxLatencyMs: number | null; timeoutMs: number;
  }
  | {
    name: string; kind: 'exec'; command: string; exitCode: number; stdout: RegExp | null; timeoutMs: number;
    /** Variables set for the command, on top of the runner's environment (all of the CLI's;
     *  on the server, only a fixed PATH). Absent when the file declares none. */
    env?: Record<string, string>;
  };

export interface ProbeResult {
  probe: string;
  ok: boolean;
  /** What was observed: a status code, an exit code, 'connected', or an error message. */
  value: string | number;
  latencyMs: number;
  /** Why it failed, in words; absent when ok. */
  reason?: string;
  /** Exec probes: the last non-empty line of stdout, trimmed, at most 200 characters (cut
   *  ones end in '…'), so that a probe script can report what it measured. Absent when there
   *  is none, and for other kinds. */
  output?: string;
  ts: number;
}

export interface HaltCondition {
  probe: Probe;
  /** Halt once the probe has failed continuously for this long. */
  failingForMs: number;
}

export type Action =
  | {
    kind: 'toxic'; proxy: string; name: string; type: string; stream: 'upstream' | 'downstream';
    toxicity: number; attributes: Record<string, unknown>;
  }
  | { kind: 'update_toxic'; proxy: string; toxic: string; toxicity?: number; attributes: Record<string, unknown> }
  | { kind: 'remove_toxic'; proxy: string; toxic: string }
  | { kind: 'proxy'; name: string; enabled?: boolean; upstream?: string; listen?: string }
  | { kind: 'partition'; groups: string[][]; oneway: boolean }
  | { kind: 'heal'; proxy: string | null }
  | { kind: 'probe'; probe: Probe };

export interface Step {
  /** Position in the file (0-based), for reports and errors. */
  index: number;
  atMs: number;
  /** The action reverts after this long; null: it stays (until rollback at the end). */
  forMs: number | null;
  action: Action;
  /** Where the step stands in the file, for messages. */
  line: number;
}

/** One problem found in a scenario file, with its position (1-based line and column). */
export interface ScenarioIssue {
  line: number;
  column: number;
  /** The key path, e.g. `timeline[2].toxic.stream`. */
  path: string;
  message: string;
}
