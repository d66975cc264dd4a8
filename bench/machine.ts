/** What the results were measured on: enough to tell two runs' machines apart. */
import os from 'node:os';

export interface MachineInfo {
  hostname: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  totalMemoryMb: number;
  loadAverage: number[];
  node: string;
  v8: string;
  exposedGc: boolean;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemoryMb: Math.round(os.totalmem() / 2 ** 20),
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
    node: process.version,
    v8: process.versions.v8,
    exposedGc: typeof globalThis.gc === 'function',
  };
}
