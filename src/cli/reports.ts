/** Human-readable views of models, health and stats, shared by the commands and the chat. */
import type { HealthReport, ModelInfo, RuntimeStats } from '../index.ts';
import type { Style } from './colors.ts';
import { renderTable } from './table.ts';

export function formatModels(models: readonly ModelInfo[], provider: string): string {
  if (models.length === 0) return `provider "${provider}" lists no models`;
  return renderTable(
    ['model', 'owned by'],
    models.map((m) => [m.id, m.ownedBy ?? '']),
  );
}

export function formatHealth(reports: readonly HealthReport[], style: Style): string {
  return renderTable(
    ['provider', 'status', 'latency', 'error'],
    reports.map((r) => [
      r.provider,
      r.ok ? style.green('ok') : style.red('down'),
      r.ok ? `${Math.round(r.latencyMs)} ms` : '',
      r.error ? `[${r.error.code}] ${r.error.message}` : '',
    ]),
  );
}

export function formatStats(stats: RuntimeStats): string {
  const lines = [
    `state ${stats.state} · in flight ${stats.inFlight} · completed ${stats.completed} · failed ${stats.failed} · restarts ${stats.restarts}`,
  ];
  for (const worker of stats.workers) {
    lines.push(`worker ${worker.workerId}: in flight ${worker.inFlight} · heap ${(worker.heapUsedBytes / 1048576).toFixed(1)} MiB`);
    for (const c of worker.providers) {
      lines.push(`  ${c.provider} ${c.origin}: sockets ${c.connected} (${c.free} free) · requests ${c.requests} · retries ${c.retries} · errors ${c.errors}`);
    }
  }
  for (const p of stats.providers) {
    const last = p.lastError ? ` · last error [${p.lastError.code}]` : '';
    lines.push(`provider ${p.provider}: breaker ${p.breaker} · ok ${p.successes} · failed ${p.failures}${last}`);
  }
  if (stats.lastCrash) lines.push(`last crash: ${JSON.stringify(stats.lastCrash)}`);
  return lines.join('\n');
}
