/** The terminal table: one row per contender, extra rows for a contender's further bars. */
import type { BarResult, ContenderResult, ScenarioResult } from './scenarios/result.ts';

export function formatNumber(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (Number.isInteger(value) && unit !== '×') return unit ? `${value.toLocaleString('en-US')} ${unit}` : value.toLocaleString('en-US');
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits > 1 ? 2 : digits });
  return unit === '×' ? `${text}×` : unit ? `${text} ${unit}` : text;
}

export function describeBar(b: BarResult): string {
  const goal = b.threshold === undefined ? 'info' : `${b.op} ${formatNumber(b.threshold, b.unit)}`;
  return `${b.label} ${formatNumber(b.observed, b.unit)} (${goal})`;
}

function verdict(b: BarResult | undefined): string {
  if (!b || b.pass === undefined) return '';
  return b.pass ? 'PASS' : 'MISS';
}

function medianCell(s: ScenarioResult, c: ContenderResult): string {
  if (s.id === 'soak') return `${formatNumber(c.median, 'MB')} RSS Δ`;
  if (s.id === 'continuity') return `${formatNumber(c.median * 1000, 'µs')} p50 turn`;
  if (s.id.startsWith('lifecycle-') && c.latencyMs) return `${formatNumber(c.median, c.unit)} [${formatNumber(c.latencyMs.min)}..${formatNumber(c.latencyMs.max)}]`;
  return formatNumber(c.median, c.unit);
}

export function renderTable(results: ScenarioResult[]): string {
  const header = ['scenario', 'contender', 'median', 'ratio vs floor', 'bar', ''];
  const rows: string[][] = [];
  for (const s of results) {
    let first = true;
    for (const c of s.contenders) {
      const ratio = c.ratioVsFloor && s.floor && c.name !== s.floor ? formatNumber(c.ratioVsFloor.median, '×') : s.floor === c.name ? 'floor' : '';
      const bars = s.bars.filter((b) => b.contender === c.name);
      rows.push([first ? s.title : '', c.name, medianCell(s, c), ratio, bars[0] ? describeBar(bars[0]) : '', verdict(bars[0])]);
      for (const b of bars.slice(1)) rows.push(['', '', '', '', describeBar(b), verdict(b)]);
      first = false;
    }
    for (const k of s.skipped) rows.push([first ? s.title : '', k.name, 'skipped', '', k.reason, '']);
    for (const note of s.notes) rows.push(['', '', '', '', `note: ${note}`, '']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.min(r[i]!.length, i === 4 ? 70 : 40))));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
