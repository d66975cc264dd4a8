/**
 * The layout's import rules (DESIGN.md, "Layout"), checked on every .ts and
 * .mjs file under src/ and workers/: static imports (type-only ones too),
 * `export ... from`, dynamic `import()` and `import('...')` types. A folder
 * says which thread runs a file, so a forbidden import is a thread boundary
 * crossed in code.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { REPO } from './helpers/checkout.ts';

const ROOT = REPO;

/**
 * A pattern is a repo path (`src/index.ts`), a folder (`src/host/`), a path
 * prefix ending in `*` (`workers/provider-*`, `node:*`), or a package name
 * (`comlink`, subpaths included).
 */
const WORKER_SIDE = ['src/provider/', 'workers/provider-*'];
const HOST_SIDE = ['src/host/', 'src/conversation/'];

interface Rule {
  says: string;
  from: string[];
  /** Targets forbidden to `from`. */
  never?: string[];
  /** The only targets allowed to `from`. */
  only?: string[];
}

const RULES: Rule[] = [
  { says: 'the worker side never imports the host side', from: WORKER_SIDE, never: HOST_SIDE },
  { says: 'the host side never imports src/provider', from: HOST_SIDE, never: ['src/provider/'] },
  { says: 'src/shared imports nothing with I/O or threads: only src/shared', from: ['src/shared/'], only: ['src/shared/'] },
  // src/wire is the port layer itself: it may speak of worker_threads' types, but holds no I/O.
  { says: 'src/wire imports only src/shared, comlink and the port types of node:worker_threads', from: ['src/wire/'], only: ['src/wire/', 'src/shared/', 'comlink', 'node:worker_threads'] },
  { says: 'src/testing imports neither host nor provider', from: ['src/testing/'], never: [...HOST_SIDE, 'src/provider/'] },
  { says: 'src/cli imports only the public face and parley/testing', from: ['src/cli/'], only: ['src/cli/', 'src/index.ts', 'src/testing/index.ts', 'node:*'] },
];

interface Import {
  file: string;
  line: number;
  specifier: string;
  /** A repo path for a relative specifier, `node:name` for a builtin, else the package name. */
  target: string;
}

function matches(pattern: string, target: string): boolean {
  if (pattern.endsWith('/')) return target.startsWith(pattern);
  if (pattern.endsWith('*')) return target.startsWith(pattern.slice(0, -1));
  return target === pattern || target.startsWith(`${pattern}/`);
}

function targetOf(file: string, specifier: string): string {
  if (specifier.startsWith('.')) return relative(ROOT, resolve(dirname(join(ROOT, file)), specifier)).split(sep).join('/');
  if (isBuiltin(specifier)) return specifier.startsWith('node:') ? specifier : `node:${specifier}`;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The module specifiers `text` imports. An `import()` of a computed value has no specifier to check and is skipped. */
function importsOf(file: string, text: string): Import[] {
  const kind = file.endsWith('.mjs') ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, kind);
  const found: Import[] = [];
  const add = (node: ts.Node | undefined): void => {
    if (!node || !ts.isStringLiteralLike(node)) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    found.push({ file, line, specifier: node.text, target: targetOf(file, node.text) });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sourceFiles(): string[] {
  return ['src', 'workers']
    .flatMap((dir) => readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => `${dir}/${f.split(sep).join('/')}`))
    .filter((f) => f.endsWith('.ts') || f.endsWith('.mjs'))
    .sort();
}

function violations(rule: Rule, imports: Import[]): string[] {
  return imports
    .filter((i) => rule.from.some((p) => matches(p, i.file)))
    .filter((i) => (rule.never ?? []).some((p) => matches(p, i.target)) || (rule.only !== undefined && !rule.only.some((p) => matches(p, i.target))))
    .map((i) => `${i.file}:${i.line} imports '${i.specifier}'${i.target === i.specifier ? '' : ` (${i.target})`}`);
}

describe('import rules', () => {
  const files = sourceFiles();
  const imports = files.flatMap((file) => importsOf(file, readFileSync(join(ROOT, file), 'utf8')));

  test('the parser sees every form of import', () => {
    const text = [
      "import a from './a.ts';",
      "import type { B } from '../src/shared/b.ts';",
      "import './side-effect.ts';",
      "export { c } from 'comlink';",
      "export * from 'node:fs';",
      "export type { D } from 'undici';",
      "type E = typeof import('fs');",
      "const f = await import('piscina');",
      "const g = await import(process.argv[2]);",
      "const notAnImport = 'import x from \"nowhere\"';",
    ].join('\n');
    assert.deepEqual(
      importsOf('workers/example.ts', text).map((i) => [i.line, i.target]),
      [[1, 'workers/a.ts'], [2, 'src/shared/b.ts'], [3, 'workers/side-effect.ts'], [4, 'comlink'], [5, 'node:fs'], [6, 'undici'], [7, 'node:fs'], [8, 'piscina']],
    );
    assert.equal(importsOf('workers/example.mjs', "const m = await import('comlink/dist/esm/comlink.mjs');")[0]?.target, 'comlink');
  });

  test('the scan reads the real tree: known imports are seen and every relative one resolves to a file', () => {
    assert.ok(files.includes('workers/provider-task.ts'));
    const seen = (file: string, target: string) => imports.some((i) => i.file === file && matches(target, i.target));
    assert.ok(seen('src/host/runtime.ts', 'src/shared/'), 'src/host/runtime.ts imports src/shared');
    assert.ok(seen('src/index.ts', 'src/host/runtime.ts'), 'src/index.ts re-exports src/host/runtime.ts');
    assert.ok(seen('workers/provider-actor.ts', 'src/provider/'), 'workers/provider-actor.ts imports src/provider');
    const unresolved = imports.filter((i) => i.specifier.startsWith('.') && !existsSync(join(ROOT, i.target)));
    assert.deepEqual(unresolved, []);
  });

  test('every rule applies to files that exist', () => {
    for (const rule of RULES) {
      assert.ok(files.some((f) => rule.from.some((p) => matches(p, f))), `no file matches the "from" of: ${rule.says}`);
    }
  });

  for (const rule of RULES) {
    test(rule.says, () => {
      const found = violations(rule, imports);
      assert.deepEqual(found, [], `${rule.says}; forbidden:\n  ${found.join('\n  ')}`);
    });
  }
});
