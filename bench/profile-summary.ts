// Prints the functions with the most self time in a V8 CPU profile, as
// written by `node --cpu-prof`: npx tsx bench/profile-summary.ts FILE [COUNT]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** Node id of each sample. */
  readonly samples: readonly number[];
  /** Microseconds between one sample and the previous one. */
  readonly timeDeltas: readonly number[];
}

const [file, countArgument] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [COUNT]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;

const labelById = new Map<number, string>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const location = url === '' ? '' : ` ${relative(process.cwd(), url.replace(/^file:\/\//, ''))}:${lineNumber + 1}`;
  labelById.set(node.id, `${functionName === '' ? '(anonymous)' : functionName}${location}`);
}

// Each sample's time is the delta that follows it.
const microsByLabel = new Map<string, number>();
let totalMicros = 0;
profile.samples.forEach((id, index) => {
  const micros = profile.timeDeltas[index + 1] ?? 0;
  const label = labelById.get(id) ?? `node ${id}`;
  microsByLabel.set(label, (microsByLabel.get(label) ?? 0) + micros);
  totalMicros += micros;
});

const count = Number(countArgument ?? '20');
const top = [...microsByLabel].sort((a, b) => b[1] - a[1]).slice(0, count);
console.log(`total ${(totalMicros / 1000).toFixed(0)} ms sampled`);
for (const [label, micros] of top) {
  console.log(
    `${((100 * micros) / totalMicros).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${label}`,
  );
}
