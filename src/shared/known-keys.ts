/**
 * Unknown keys are refused at the door, not ignored: a mistyped option
 * (`baseURL`, `timeoutMS`, `maxRetry`) would otherwise silently keep its
 * default. The refusal names the key and the nearest known one.
 */

/**
 * Edit distance with adjacent transpositions (optimal string alignment):
 * `maxTokens` is one edit from `maxToken` and from `maxTkoens`.
 */
function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/** Case, `_` and `-` do not count: `base_url`, `BaseURL` and `baseUrl` are one name. */
function normal(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, '');
}

/** The known name nearest to `name`, when it is near enough to be what was meant. */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  const wanted = normal(name);
  if (wanted === '') return undefined;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(wanted.length * 0.4)) + 1;
  for (const candidate of known) {
    const d = distance(wanted, normal(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** How a key is shown in a message: as a property path when it is a plain name, else quoted and cut short. */
export function keyPath(at: string, key: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key) && key.length <= 64) return `${at}.${key}`;
  return `${at}[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`;
}

/**
 * The first own enumerable key of `value` that is not in `known`, with the
 * sentence that refuses it ("... is not a known field; did you mean baseUrl?"),
 * or undefined when every key is known. `hint` is added when there is no
 * near name (e.g. where provider-specific fields belong).
 */
export function unknownKey(
  value: object,
  known: ReadonlySet<string>,
  at: string,
  what: string,
  hint?: string,
): string | undefined {
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    const near = nearestName(key, known);
    const advice = [near ? `did you mean ${near}?` : undefined, hint].filter(Boolean).join(' ');
    return `${keyPath(at, key)} is not ${what}${advice ? `; ${advice}` : ` (known: ${[...known].join(', ')})`}`;
  }
  return undefined;
}
