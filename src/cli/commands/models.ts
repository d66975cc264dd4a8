/** `parley models`: the chosen provider's models, as a table or JSON. */
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { formatModels } from '../reports.ts';
import type { Session } from '../session.ts';

export async function runModels(session: Session, io: { output: NodeJS.WriteStream; json: boolean }): Promise<ExitCode> {
  const models = await session.runtime.models(session.provider);
  io.output.write(`${io.json ? JSON.stringify(models, null, 2) : formatModels(models, session.provider)}\n`);
  return EXIT.OK;
}
