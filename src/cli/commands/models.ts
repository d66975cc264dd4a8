/** `parley models`: the chosen provider's models, as a table or JSON. */
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { formatModels } from '../reports.ts';
import type { CliRuntime } from '../cli-runtime.ts';

export async function runModels(cli: CliRuntime, io: { output: NodeJS.WriteStream; json: boolean }): Promise<ExitCode> {
  const models = await cli.runtime.models(cli.provider);
  io.output.write(`${io.json ? JSON.stringify(models, null, 2) : formatModels(models, cli.provider)}\n`);
  return EXIT.OK;
}
