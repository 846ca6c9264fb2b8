// The HTML report's stylesheet, inlined into the document by report-html.ts (no external assets).
// Colours carry meaning: green held/ok, red failed/halted/rollback errors, amber deviated or late,
// orange for active toxics in the timeline.

export const REPORT_CSS: string = `
:root{--good:#1b7f3b;--good-bg:#e6f4ea;--bad:#c62828;--bad-bg:#fdecea;--warn:#b26a00;--warn-bg:#fff4e0;--info:#1565c0;--info-bg:#e3f0fc;--muted:#555;--muted-bg:#eee;--ink:#1d2330;--line:#d8dce3}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 12px}
.meta{color:#5b6373;font-size:13px;margin-bottom:18px}
.meta span{margin-right:18px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 20px;margin:18px 0}
.verdict{display:flex;align-items:center;gap:22px;border-radius:8px;padding:18px 22px;border:2px solid}
.verdict-status{font-size:30px;font-weight:800;letter-spacing:.04em;white-space:nowrap}
.verdict-reason{font-size:17px;font-weight:600}
.verdict-meta{font-size:13px;margin-top:2px}
.good{color:var(--good)} .verdict.good,.rollback.good{background:var(--good-bg);border-color:var(--good)}
.bad{color:var(--bad)} .verdict.bad,.rollback.bad{background:var(--bad-bg);border-color:var(--bad)}
.warn{color:var(--warn)} .verdict.warn{background:var(--warn-bg);border-color:var(--warn)}
.info{color:var(--info)} .verdict.info{background:var(--info-bg);border-color:var(--info)}
.muted{color:var(--muted)} .verdict.muted,.rollback.muted{background:var(--muted-bg);border-color:#999}
.rollback{border:2px solid;border-radius:8px;padding:14px 20px;margin:18px 0}
.rollback.bad h2{color:var(--bad);font-size:20px}
.rollback ul{margin:6px 0 0;padding-left:22px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.rollback p{margin:0}
table{border-collapse:collapse;width:100%;font-size:14px}
th{text-align:left;font-weight:600;color:#5b6373;border-bottom:2px solid var(--line);padding:6px 10px}
td{border-bottom:1px solid #eceef2;padding:6px 10px;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.late{color:var(--warn);font-weight:600}
td.ok,span.ok{color:var(--good);font-weight:600} td.fail,span.fail{color:var(--bad);font-weight:600}
tr.row-fail{background:#fff6f5}
.chip{display:inline-block;background:#eef1f6;border-radius:10px;padding:1px 9px;margin:1px 2px;font-size:13px}
.note{color:#8a919e;font-style:italic}
.legend{font-size:13px;color:#5b6373;margin-top:6px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin:0 5px 0 14px}
pre{background:#f3f4f7;border-radius:6px;padding:12px;overflow:auto;font-size:13px}
#timeline{display:block;font-family:inherit}
#timeline .sec{font-size:14px;font-weight:700;fill:#1d2330}
#timeline .lane-bg{fill:#f3f4f7}
#timeline .lane-label{font-size:13px;fill:#1d2330;font-weight:600}
#timeline .lane-sub,#timeline .tick{font-size:11.5px;fill:#6b7280}
#timeline .note{font-size:13px;fill:#8a919e;font-style:italic}
#timeline .window{fill:#e8833a;fill-opacity:.85;stroke:#b85c17}
#timeline .plot-bg{fill:#fbfbfc;stroke:#e3e6eb}
#timeline .grid{stroke:#e6e8ec}
#timeline .vgrid{stroke-dasharray:2 4}
#timeline .axis{stroke:#6b7280}
#timeline .step-line{stroke:#8a93a3;stroke-dasharray:4 4}
#timeline .step-marker circle{fill:#3b5bdb;stroke:#fff;stroke-width:2}
#timeline .step-marker.fail circle{fill:#c62828}
#timeline .step-marker.fail .step-line{stroke:#c62828}
#timeline .step-num{font-size:11px;font-weight:700;fill:#fff}
#timeline .probe-point.ok circle{fill:#2e9e4f;fill-opacity:.85}
#timeline .probe-point.fail path{stroke:#d32f2f;stroke-width:2.5}
`;
