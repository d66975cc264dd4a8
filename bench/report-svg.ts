/**
 * The chart, written as SVG text: ratios against the in-process floor with
 * each goal marked (one panel per comparison), latency distributions
 * (p50-p90 box, whisker to p99, log scale), and the soak checks.
 */
import type { MachineInfo } from './machine.ts';
import { describeBar, formatNumber } from './report-table.ts';
import type { BarResult, ContenderResult, ScenarioResult } from './scenarios/result.ts';

export interface Report {
  date: string;
  mode: string;
  wallMs: number;
  machine: MachineInfo;
  scenarios: ScenarioResult[];
}

const W = 1000;
const LABEL_W = 190;
const PLOT_X = LABEL_W + 10;
const PLOT_W = 560;
const ROW_H = 22;
const COLORS = { floor: '#4a78c2', pass: '#3a9a5b', miss: '#d0473d', neutral: '#9aa3ad', line: '#d0473d', grid: '#e3e6ea', text: '#222' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

class Canvas {
  readonly parts: string[] = [];
  y = 0;
  text(x: number, y: number, s: string, attrs = ''): void {
    this.parts.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`);
  }
  rect(x: number, y: number, w: number, h: number, fill: string, attrs = ''): void {
    this.parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}" ${attrs}/>`);
  }
  line(x1: number, y1: number, x2: number, y2: number, stroke: string, attrs = ''): void {
    this.parts.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${stroke}" ${attrs}/>`);
  }
  circle(x: number, y: number, r: number, fill: string): void {
    this.parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${fill}" fill-opacity="0.75"/>`);
  }
}

/** A goal expressed in the panel's unit (ratio vs floor), so it can be drawn on the ratio axis. */
function goalAsRatio(s: ScenarioResult, b: BarResult): number | undefined {
  if (b.threshold === undefined) return undefined;
  const floor = s.contenders.find((c) => c.name === s.floor);
  if (!floor) return undefined;
  if (b.label.startsWith('× undici')) return b.threshold;
  const sdkMatch = /^× (.+)$/.exec(b.label);
  if (sdkMatch) {
    const other = s.contenders.find((c) => c.name === sdkMatch[1]);
    return other?.ratioVsFloor ? b.threshold * other.ratioVsFloor.median : undefined;
  }
  if (b.label.startsWith('added p50')) return 1 + b.threshold / floor.median;
  if (b.unit === s.unit) return b.threshold / floor.median;
  return undefined;
}

function colorOf(s: ScenarioResult, c: ContenderResult): string {
  if (c.name === s.floor) return COLORS.floor;
  const bars = s.bars.filter((b) => b.contender === c.name && b.pass !== undefined);
  if (bars.length === 0) return COLORS.neutral;
  return bars.every((b) => b.pass) ? COLORS.pass : COLORS.miss;
}

function ratioPanel(cv: Canvas, s: ScenarioResult): void {
  const rows = s.contenders.filter((c) => c.ratioVsFloor);
  const goals = s.bars.map((b) => ({ b, at: goalAsRatio(s, b) })).filter((g) => g.at !== undefined && Number.isFinite(g.at)) as { b: BarResult; at: number }[];
  const top = Math.max(1.2, ...rows.flatMap((c) => [c.ratioVsFloor!.median, ...c.ratioVsFloor!.perRound]), ...goals.map((g) => g.at)) * 1.08;
  const x = (v: number) => PLOT_X + (Math.min(v, top) / top) * PLOT_W;
  const better = s.higherIsBetter ? 'higher is better' : 'lower is better';
  cv.text(20, cv.y + 16, `${s.title}: ${s.unit} as a ratio of ${s.floor} (${better})`, 'font-weight="bold" font-size="13"');
  cv.y += 26;
  const plotTop = cv.y;
  for (let t = 0; t <= top; t += top > 6 ? 1 : top > 3 ? 0.5 : 0.25) {
    cv.line(x(t), plotTop, x(t), plotTop + rows.length * ROW_H, COLORS.grid);
    cv.text(x(t), plotTop + rows.length * ROW_H + 12, `${Number(t.toFixed(2))}×`, 'font-size="9" text-anchor="middle" fill="#667"');
  }
  cv.line(x(1), plotTop - 3, x(1), plotTop + rows.length * ROW_H, COLORS.floor, 'stroke-dasharray="3,2"');
  for (const c of rows) {
    const y = cv.y;
    cv.text(LABEL_W, y + 15, c.name, 'font-size="12" text-anchor="end"');
    cv.rect(PLOT_X, y + 4, x(c.ratioVsFloor!.median) - PLOT_X, ROW_H - 8, colorOf(s, c));
    for (const r of c.ratioVsFloor!.perRound) cv.circle(x(r), y + ROW_H / 2, 2.2, '#222');
    const value = `${formatNumber(c.ratioVsFloor!.median, '×')}  (${formatNumber(c.median, c.unit)})`;
    cv.text(PLOT_X + PLOT_W + 10, y + 15, value, 'font-size="11"');
    for (const g of goals.filter((g) => g.b.contender === c.name)) {
      cv.line(x(g.at), y + 1, x(g.at), y + ROW_H - 1, COLORS.line, 'stroke-width="2.5"');
      cv.text(x(g.at) + 3, y + 3, `goal ${g.b.label.replace('added p50 vs undici', '+60 µs')}`, 'font-size="8" fill="#d0473d"');
    }
    cv.y += ROW_H;
  }
  cv.y += 14;
  for (const b of s.bars) {
    const tag = b.pass === undefined ? 'info' : b.pass ? 'PASS' : 'MISS';
    cv.text(PLOT_X, cv.y + 12, `${tag}  ${b.contender}: ${describeBar(b)}`, `font-size="11" fill="${b.pass === false ? COLORS.miss : b.pass ? COLORS.pass : '#555'}"`);
    cv.y += 15;
  }
  for (const k of s.skipped) {
    cv.text(PLOT_X, cv.y + 12, `skipped ${k.name}: ${k.reason}`, 'font-size="10" fill="#888"');
    cv.y += 14;
  }
  cv.y += 14;
}

function latencyPanel(cv: Canvas, list: ScenarioResult[]): void {
  const rows = list.flatMap((s) => s.contenders.filter((c) => c.latencyMs && c.latencyMs.n > 0).map((c) => ({ s, c })));
  if (rows.length === 0) return;
  const lo = Math.max(0.01, Math.min(...rows.map((r) => r.c.latencyMs!.p50)) / 2);
  const hi = Math.max(...rows.map((r) => r.c.latencyMs!.p99)) * 1.5;
  const x = (v: number) => PLOT_X + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PLOT_W;
  cv.text(20, cv.y + 16, 'latency of one call, ms (log scale): box p50–p90, whisker to p99', 'font-weight="bold" font-size="13"');
  cv.y += 26;
  const plotTop = cv.y;
  const height = rows.length * ROW_H + new Set(rows.map((r) => r.s)).size * 14;
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < lo || v > hi) continue;
      cv.line(x(v), plotTop, x(v), plotTop + height, COLORS.grid);
      cv.text(x(v), plotTop + height + 12, formatNumber(v), 'font-size="9" text-anchor="middle" fill="#667"');
    }
  }
  let current: ScenarioResult | undefined;
  for (const { s, c } of rows) {
    if (s !== current) {
      current = s;
      cv.text(LABEL_W, cv.y + 11, s.title.length > 30 ? `${s.title.slice(0, 29)}…` : s.title, 'font-size="11" font-style="italic" text-anchor="end" fill="#555"');
      cv.y += 14;
    }
    const l = c.latencyMs!;
    const y = cv.y;
    cv.text(LABEL_W, y + 15, c.name, 'font-size="12" text-anchor="end"');
    cv.line(x(l.p90), y + ROW_H / 2, x(l.p99), y + ROW_H / 2, '#555');
    cv.line(x(l.p99), y + 6, x(l.p99), y + ROW_H - 6, '#555');
    cv.rect(x(l.p50), y + 5, x(l.p90) - x(l.p50), ROW_H - 10, colorOf(s, c), 'fill-opacity="0.8"');
    cv.line(x(l.p50), y + 3, x(l.p50), y + ROW_H - 3, '#111', 'stroke-width="2"');
    cv.text(PLOT_X + PLOT_W + 10, y + 15, `p50 ${formatNumber(l.p50)}  p99 ${formatNumber(l.p99)}`, 'font-size="11"');
    cv.y += ROW_H;
  }
  cv.y += 30;
}

function checksPanel(cv: Canvas, list: ScenarioResult[]): void {
  for (const s of list) {
    cv.text(20, cv.y + 16, s.title, 'font-weight="bold" font-size="13"');
    cv.y += 22;
    for (const b of s.bars) {
      const tag = b.pass === undefined ? 'info' : b.pass ? 'PASS' : 'MISS';
      const fill = b.pass === undefined ? COLORS.neutral : b.pass ? COLORS.pass : COLORS.miss;
      cv.rect(PLOT_X - 50, cv.y + 2, 40, 15, fill, 'rx="3"');
      cv.text(PLOT_X - 30, cv.y + 13, tag, 'font-size="10" fill="#fff" text-anchor="middle" font-weight="bold"');
      cv.text(PLOT_X, cv.y + 13, `${b.contender}: ${describeBar(b)}`, 'font-size="12"');
      cv.y += 19;
    }
    for (const note of s.notes) {
      cv.text(PLOT_X, cv.y + 12, note, 'font-size="10" fill="#666"');
      cv.y += 14;
    }
    cv.y += 10;
  }
}

export function renderSvg(report: Report): string {
  const cv = new Canvas();
  const m = report.machine;
  cv.text(20, 28, `parley bench (${report.mode}) ${report.date.slice(0, 16).replace('T', ' ')} UTC`, 'font-size="18" font-weight="bold"');
  cv.text(20, 46, `${m.cpus}× ${m.cpuModel}, load ${m.loadAverage.join(' ')}, node ${m.node}; bars: median of per-round ratios, dots: single rounds`, 'font-size="11" fill="#555"');
  cv.y = 62;
  const compared = report.scenarios.filter((s) => s.floor && s.contenders.some((c) => c.ratioVsFloor && c.ratioVsFloor.perRound.length > 0));
  for (const s of compared) ratioPanel(cv, s);
  latencyPanel(cv, report.scenarios.filter((s) => s.id !== 'event-loop-p99'));
  checksPanel(cv, report.scenarios.filter((s) => !compared.includes(s)));
  const height = Math.ceil(cv.y + 10);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="${COLORS.text}">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    ...cv.parts,
    '</svg>',
    '',
  ].join('\n');
}
