/**
 * Hostile definition sources: every one is refused with a diagnostic (never an exception), and a
 * hostile file never takes the other definitions in the folder down with it.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { defaultCatalogue } from '../catalogue/entries';
import { MAX_DEFINITION_BYTES, compileDefinition } from './compile';
import { compileFiles, decodeDefinition, definitionFiles } from './load';

const catalogue = defaultCatalogue();
const DEFS = join(__dirname, '..', '..', 'definitions');

/** n levels of nine aliases each: 9^n nodes once expanded, a few hundred bytes of source. */
function aliasBomb(levels: number): string {
  const lines = ['apiVersion: fixpay/v1', 'kind: Service', 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i <= levels; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n`;
}

const compile = (text: string): ReturnType<typeof compileDefinition> =>
  compileDefinition(text, 'hostile.yaml', { catalogue });

describe('hostile YAML is refused with a diagnostic, never a crash', () => {
  it('an alias bomb is refused with FP2300 and the position of an alias', () => {
    const r = compile(aliasBomb(9));
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0]).toMatchObject({ code: 'FP2300', name: 'DEF_YAML_UNSAFE' });
    expect(r.diagnostics[0]?.line).toBeGreaterThan(3);
    expect(r.diagnostics[0]?.message).toMatch(/aliases add more than/);
  });

  it('a recursive alias is refused', () => {
    const r = compile('apiVersion: fixpay/v1\nspec: &s\n  x: *s\n');
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0]?.code).toMatch(/^FP2(000|300)$/);
  });

  it('a 20 MB file is refused before it is parsed', () => {
    const text = `a: [${'*x, '.repeat(5 * 1024 * 1024)}]\n`;
    const r = compile(text);
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'FP2300', line: 1, column: 1 })]);
    expect(r.diagnostics[0]?.message).toContain(String(MAX_DEFINITION_BYTES));
  });

  it('a multi-byte text just over the limit in UTF-8 is refused', () => {
    const r = compile(`a: '${'é'.repeat(MAX_DEFINITION_BYTES / 2 + 1)}'\n`);
    expect(r.diagnostics[0]?.code).toBe('FP2300');
  });

  it.each([
    ['a custom tag', 'apiVersion: fixpay/v1\nkind: !Service Service\n', 2],
    ['a core tag', 'apiVersion: fixpay/v1\nkind: !!binary aGVsbG8=\n', 2],
    ['a YAML 1.1 directive (octal numbers)', '%YAML 1.1\n---\napiVersion: fixpay/v1\n', 1],
    ['a TAG directive', '%TAG !e! tag:example.com,2000:\n---\napiVersion: fixpay/v1\n', 1],
  ])('%s is refused on its line', (_name, text, line) => {
    const r = compile(text);
    expect(r.diagnostics[0]).toMatchObject({ code: 'FP2300', line });
  });

  it.each([
    ['flow brackets 50,000 deep', `a: ${'['.repeat(50_000)}\n`, 1],
    ['flow brackets behind an apostrophe in plain text', `x: it's\nb: ${'['.repeat(50_000)}\n`, 2],
    ['flow maps 15,000 deep', `a: ${'{b: '.repeat(15_000)}1${'}'.repeat(15_000)}\n`, 1],
    ['block maps 60 deep', Array.from({ length: 60 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'), 49],
  ])('nesting: %s is refused on its line', (_name, text, line) => {
    const r = compile(text);
    expect(r.diagnostics[0]).toMatchObject({ code: 'FP2300', line });
    expect(r.diagnostics[0]?.message).toMatch(/nest/);
  });

  it('non-UTF-8 bytes are refused with their position', () => {
    const r = decodeDefinition(Buffer.from('apiVersion: fixpay/v1\nkind: caf\xe9\n', 'latin1'), 'latin1.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostic).toMatchObject({ code: 'FP2300', line: 2, column: 10 });
  });

  it('a hostile file in the folder leaves the other definitions compiling', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-hostile-'));
    try {
      for (const f of definitionFiles(DEFS)) copyFileSync(f, join(dir, f.slice(DEFS.length + 1)));
      writeFileSync(join(dir, 'aaa-bomb.yaml'), aliasBomb(9));
      writeFileSync(join(dir, 'aab-latin1.yaml'), Buffer.from('kind: caf\xe9\n', 'latin1'));
      writeFileSync(join(dir, 'aac-huge.yaml'), 'a: '.padEnd(MAX_DEFINITION_BYTES + 10, 'x'));
      const all = compileFiles(definitionFiles(dir), catalogue);
      const bad = all.filter((d) => d.file.includes(`${dir}/aa`));
      expect(bad.map((d) => d.diagnostics[0]?.code)).toEqual(['FP2300', 'FP2300', 'FP2300']);
      const good = all.filter((d) => !d.file.includes(`${dir}/aa`));
      expect(good.length).toBeGreaterThan(0);
      expect(good.filter((d) => !d.ok).map((d) => d.file)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fuzz: any text gives diagnostics or a plan, never an exception', () => {
    const yamlish = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            'apiVersion: fixpay/v1\n',
            'kind: Service\n',
            'metadata: { id: x, version: 1.0.0 }\n',
            'spec:\n',
            '  steps:\n',
            '    - id: a\n',
            '      call: reserveFunds\n',
            '&a ',
            '*a',
            '!!binary ',
            '!t ',
            '%YAML 1.1\n',
            '---\n',
            '<<: *a\n',
            '? ',
            ': ',
            '- ',
            '[',
            ']',
            '{',
            '}',
            '"\\u0000"',
            "'",
            '|\n',
            '\t',
            '__proto__: 1\n',
          ),
          fc.string({ maxLength: 12 }),
        ),
        { maxLength: 40 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(yamlish, (text) => {
        const r = compile(text);
        if (!r.ok) {
          expect(r.diagnostics.length).toBeGreaterThan(0);
          for (const d of r.diagnostics) {
            expect(d.line).toBeGreaterThanOrEqual(1);
            expect(d.column).toBeGreaterThanOrEqual(1);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('fuzz: a shipped definition with any node replaced by any value gives a plan or diagnostics', () => {
    const shipped = parse(readFileSync(join(DEFS, 'payment.yaml'), 'utf8')) as unknown;
    /** Every path to a node of a value. */
    const paths = (
      v: unknown,
      at: (string | number)[] = [],
      out: (string | number)[][] = [],
    ): (string | number)[][] => {
      out.push(at);
      if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
      else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
      return out;
    };
    const all = paths(shipped).filter((p) => p.length > 0);
    const replaced = (path: (string | number)[], value: unknown): unknown => {
      const copy = structuredClone(shipped);
      let cur = copy as Record<string | number, unknown>;
      for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
      const last = path[path.length - 1];
      if (last !== undefined) cur[last] = value;
      return copy;
    };
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom('${input.pan}', '${steps.x.y}', '${', '__proto__', '1h', '0ms', -1, 1e308, null, [], {}),
    );
    fc.assert(
      fc.property(fc.nat(), value, (i, v) => {
        const path = all[i % all.length] ?? [];
        const r = compile(stringify(replaced(path, v)));
        if (!r.ok) expect(r.diagnostics.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });
});
