/**
 * Runs the CLI from source as a child process, the way a user runs it, with
 * an environment that holds no provider settings and no config file, so each
 * test decides exactly what is configured.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHILD_FLAGS, nodeScript, REPO } from './helpers/checkout.ts';

export { REPO };

/**
 * How the CLI is started: under `npm test` the runner has just built dist/,
 * and the CLI runs from it as an installed `parley` bin does (a third of the
 * CPU of starting it under tsx, which the CLI suites pay hundreds of times);
 * a test file run on its own runs the source under tsx.
 */
export const CLI_ARGS: readonly string[] = process.env.PARLEY_TEST_BUILT === '1' ? [...CHILD_FLAGS, join(REPO, 'dist', 'src', 'cli', 'main.js')] : nodeScript('src/cli/main.ts');

const PROVIDER_ENV = ['OLLAMA_HOST', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENROUTER_API_KEY', 'ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_BASE_URL', 'GEMINI_API_KEY', 'PARLEY_CONFIG', 'PARLEY_PROVIDER', 'PARLEY_MODEL', 'XDG_CONFIG_HOME', 'FORCE_COLOR'];

/** A HOME with no ~/.config/parley, shared by the tests of one process. */
const home = mkdtempSync(join(tmpdir(), 'parley-cli-home-'));

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const key of PROVIDER_ENV) delete env[key];
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: REPO, env: cliEnv(options.env) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`parley ${args.join(' ')} did not exit within ${options.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export const ANSI = /\x1b\[/;
