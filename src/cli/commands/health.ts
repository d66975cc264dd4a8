/**
 * `parley health`: probes every configured provider. The report is printed
 * either way; the exit code is that of the first provider that is down, so
 * scripts can gate on it.
 */
import { ParleyError, type ErrorCode } from '../../index.ts';
import { colorsEnabled, createStyle } from '../colors.ts';
import { EXIT, exitCodeOf, type ExitCode } from '../exit-codes.ts';
import { formatHealth } from '../reports.ts';
import type { CliRuntime } from '../cli-runtime.ts';

export async function runHealth(cli: CliRuntime, io: { output: NodeJS.WriteStream; json: boolean }): Promise<ExitCode> {
  const reports = await cli.runtime.health();
  io.output.write(`${io.json ? JSON.stringify(reports, null, 2) : formatHealth(reports, createStyle(colorsEnabled(io.output)))}\n`);
  const down = reports.find((r) => !r.ok);
  if (!down) return EXIT.OK;
  return exitCodeOf(new ParleyError((down.error?.code ?? 'UNREACHABLE') as ErrorCode, down.error?.message ?? 'down'));
}
