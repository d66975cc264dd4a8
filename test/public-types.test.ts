/**
 * Every named type a host can reach from a public entry point is exported by
 * that entry point, so a host can write down the type of anything the API
 * hands it or asks of it. The walk follows the compiler's view of each export:
 * members (public ones), parameters, return types, type arguments, base types,
 * unions, index signatures, recursively. Types declared outside the package's
 * own folder (lib, node, dependencies) are not checked, but their type
 * arguments are (Promise<ChatResult> reaches ChatResult). A class exported as
 * a value exposes its constructor; a class exported as a type only does not.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, describe, test } from 'node:test';
import ts from 'typescript';
import { REPO } from './helpers/checkout.ts';

const ROOT = REPO;

const NAMED = ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum;

interface Walk {
  /** Named types of our own that the walk reached, exported or not. */
  reached: Set<string>;
  /** One line per unexported type: its name, its file and one path that reaches it. */
  missing: string[];
}

function compilerOptions(): ts.CompilerOptions {
  const file = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(file.config, ts.sys, ROOT);
  return { ...parsed.options, noEmit: true };
}

function isTypeOnlyExport(symbol: ts.Symbol): boolean {
  return (symbol.declarations ?? []).some(
    (d) => ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly),
  );
}

function isHidden(member: ts.Symbol): boolean {
  return (member.declarations ?? []).some((d) => {
    const name = ts.getNameOfDeclaration(d);
    return (name !== undefined && ts.isPrivateIdentifier(name)) || (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0;
  });
}

/** Source files parsed by an earlier walk, by language version, module format and path. */
const parsed = new Map<string, ts.SourceFile>();

/**
 * A compiler host that hands every walk the source files an earlier walk
 * parsed (as TypeScript's document registry does): lib and @types/node are
 * most of a program's work, and each walk parsed them again.
 */
function sharingHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
    const format = typeof languageVersionOrOptions === 'object' ? `${languageVersionOrOptions.languageVersion}/${languageVersionOrOptions.impliedNodeFormat}` : String(languageVersionOrOptions);
    const key = `${format}:${fileName}`;
    let file = shouldCreate ? undefined : parsed.get(key);
    if (file === undefined) {
      file = getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate);
      if (file) parsed.set(key, file);
    }
    return file;
  };
  return host;
}

/** Walks everything reachable from the exports of `entry`; `ownDir` is where the package's own declarations live. */
function walkPublicTypes(entry: string, ownDir: string): Walk {
  const options = compilerOptions();
  const program = ts.createProgram({ rootNames: [entry], options, host: sharingHost(options) });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source, `${entry} is not part of the program`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol, `${entry} has no exports`);

  const own = (symbol: ts.Symbol): boolean =>
    (symbol.declarations ?? []).some((d) => d.getSourceFile().fileName.startsWith(ownDir + sep));

  const exported = new Set<ts.Symbol>();
  const queue: { type: ts.Type; via: string }[] = [];
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    exported.add(target);
    if (target.flags & NAMED) queue.push({ type: checker.getDeclaredTypeOfSymbol(target), via: symbol.name });
    if (target.flags & ts.SymbolFlags.Value && !isTypeOnlyExport(symbol)) queue.push({ type: checker.getTypeOfSymbol(target), via: symbol.name });
  }

  const seen = new Set<ts.Type>();
  const reached = new Set<string>();
  const missing = new Map<ts.Symbol, string>();
  const visit = (type: ts.Type | undefined, via: string): void => {
    if (type) queue.push({ type, via });
  };

  while (queue.length > 0) {
    const { type, via } = queue.shift()!;
    if (seen.has(type)) continue;
    seen.add(type);

    const named = type.aliasSymbol ?? (type.symbol && type.symbol.flags & NAMED ? type.symbol : undefined);
    for (const arg of type.aliasTypeArguments ?? []) visit(arg, via);
    if (type.flags & ts.TypeFlags.Object && (type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
      for (const arg of checker.getTypeArguments(type as ts.TypeReference)) visit(arg, via);
    }
    if (named && !own(named)) continue;
    if (named) {
      reached.add(named.name);
      if (!exported.has(named) && !missing.has(named)) {
        const file = relative(ownDir, named.declarations![0]!.getSourceFile().fileName);
        missing.set(named, `${named.name} (${file}), reached by ${via}`);
      }
    }
    const here = named && named.name !== via ? `${via}: ${named.name}` : via;

    if (type.isUnionOrIntersection()) for (const t of type.types) visit(t, here);
    if (type.flags & ts.TypeFlags.TypeParameter) visit(checker.getBaseConstraintOfType(type), here);
    if (type.flags & ts.TypeFlags.Index) visit((type as ts.IndexType).type, here);
    if (type.flags & ts.TypeFlags.IndexedAccess) {
      visit((type as ts.IndexedAccessType).objectType, here);
      visit((type as ts.IndexedAccessType).indexType, here);
    }
    if (type.flags & ts.TypeFlags.Conditional) {
      visit((type as ts.ConditionalType).checkType, here);
      visit((type as ts.ConditionalType).extendsType, here);
    }
    if (!(type.flags & ts.TypeFlags.Object)) continue;

    if ((type as ts.ObjectType).objectFlags & (ts.ObjectFlags.Class | ts.ObjectFlags.Interface)) {
      for (const base of checker.getBaseTypes(type as ts.InterfaceType)) visit(base, here);
    }
    for (const member of checker.getPropertiesOfType(type)) {
      if (isHidden(member) || member.name === 'prototype') continue;
      // Members inherited from lib or node types (EventEmitter's on/emit) are theirs to name.
      if (member.declarations?.length && !own(member)) continue;
      visit(checker.getTypeOfSymbol(member), `${here}.${member.name}`);
    }
    for (const kind of [ts.SignatureKind.Call, ts.SignatureKind.Construct]) {
      const call = kind === ts.SignatureKind.Construct ? `new ${here}` : here;
      for (const signature of checker.getSignaturesOfType(type, kind)) {
        for (const param of signature.typeParameters ?? []) visit(checker.getBaseConstraintOfType(param), call);
        for (const param of signature.parameters) visit(checker.getTypeOfSymbol(param), `${call}(${param.name})`);
        visit(checker.getReturnTypeOfSignature(signature), `${call}()`);
      }
    }
    for (const info of checker.getIndexInfosOfType(type)) {
      visit(info.keyType, `${here}[key]`);
      visit(info.type, `${here}[key]`);
    }
  }
  return { reached, missing: [...missing.values()].sort() };
}

describe('public types', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('the walk flags an unexported type in a parameter, a return type, a member and a constructor, and nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-public-types-'));
    dirs.push(dir);
    await writeFile(
      join(dir, 'impl.ts'),
      `export interface Handle { read(opts?: ReadOptions): Promise<Chunk[]>; signal?: AbortSignal; list: ReadonlyArray<Record<string, Meta>> }
export interface ReadOptions { limit: number }
interface Chunk { text: string; at: Date }
type Meta = { kind: 'a' | 'b' };
interface Secret { key: string }
interface Inner { x: number }
export class Engine { #inner?: Inner; private also?: Inner; constructor(secret: Secret) { void secret; } run(): Handle { throw new Error(); } }
export class Quiet { constructor(secret: Secret) { void secret; } }
export function open(): Handle { throw new Error(); }
`,
    );
    await writeFile(join(dir, 'index.ts'), `export { Engine, open } from './impl.ts';\nexport type { Handle, Quiet } from './impl.ts';\n`);
    const walk = walkPublicTypes(join(dir, 'index.ts'), dir);
    assert.deepEqual(
      walk.missing.map((line) => line.split(' ')[0]),
      ['Chunk', 'Meta', 'ReadOptions', 'Secret'],
      walk.missing.join('\n'),
    );
    assert.ok(walk.reached.has('Handle'));
  });

  for (const [name, entry] of [
    ['src/index.ts', 'src/index.ts'],
    ['src/testing/index.ts (parley/testing)', 'src/testing/index.ts'],
  ] as const) {
    test(`${name} exports every type reachable from its exports`, () => {
      const walk = walkPublicTypes(join(ROOT, entry), join(ROOT, 'src'));
      // The walk must have gone deep enough to mean something.
      const expected = entry === 'src/index.ts' ? ['ChatResult', 'Message', 'StreamEvent', 'RuntimeStats', 'Conversation'] : ['ModelServer', 'Fault'];
      for (const type of expected) assert.ok(walk.reached.has(type), `the walk did not reach ${type}`);
      assert.deepEqual(walk.missing, [], `types reachable from ${entry} but not exported by it:\n  ${walk.missing.join('\n  ')}`);
    });
  }
});
