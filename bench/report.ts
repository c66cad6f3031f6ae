import type { Measurement } from './load.js';

export interface Row {
  readonly scenario: string;
  readonly measurement: Measurement;
}

const HEADERS = [
  'scenario',
  'req/s',
  'p50 ms',
  'p99 ms',
  'max ms',
  'errors',
  'non-2xx',
  'ratio',
  'server CPU µs/req',
  'load CPU µs/req',
];

const micros = (value: number | undefined) => (value === undefined ? '-' : Math.round(value).toString());

function cells(row: Row, baseline: Measurement | undefined): string[] {
  const m = row.measurement;
  const ratio = baseline === undefined ? '-' : `${(m.requestsPerSec / baseline.requestsPerSec).toFixed(2)}x`;
  return [
    row.scenario,
    Math.round(m.requestsPerSec).toString(),
    m.p50Ms.toFixed(2),
    m.p99Ms.toFixed(2),
    m.maxMs.toFixed(2),
    String(m.errors),
    String(m.non2xx),
    ratio,
    micros(m.cpuMicrosPerRequest),
    micros(m.loadCpuMicrosPerRequest),
  ];
}

/** Formats the rows as an aligned plain-text table; the ratio is req/s over the baseline's. */
export function formatText(rows: readonly Row[], baseline: Measurement | undefined): string {
  const table = [HEADERS, ...rows.map((row) => cells(row, baseline))];
  const widths = HEADERS.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  return table
    .map((line) =>
      line
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
        .join('  '),
    )
    .join('\n');
}

/** Formats the rows as a markdown table. */
export function formatMarkdown(rows: readonly Row[], baseline: Measurement | undefined): string {
  const lines = [
    `| ${HEADERS.join(' | ')} |`,
    `| ${HEADERS.map((_, column) => (column === 0 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const row of rows) lines.push(`| ${cells(row, baseline).join(' | ')} |`);
  return lines.join('\n');
}

/** A performance target checked against the rows of one run. */
export interface TargetCheck {
  readonly target: string;
  /** undefined when the run did not measure it. */
  readonly met: boolean | undefined;
  readonly measured: string;
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  return checks
    .map((check) => {
      let verdict = 'not measured';
      if (check.met !== undefined) verdict = check.met ? 'met' : 'MISSED';
      return `- ${check.target}: ${verdict}${check.measured === '' ? '' : ` (${check.measured})`}`;
    })
    .join('\n');
}
