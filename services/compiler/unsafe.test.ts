/**
 * The catalogue of unsafe definitions (__fixtures__/unsafe/<property>/*.yaml): each file says in a
 * leading comment `# expect: FP2xxx at <line>` which refusal it must get, and the compiler must
 * refuse it with exactly that code, on that line. The tricky ones (__fixtures__/tricky) are
 * valid definitions written close to the edge: they must compile.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { formatDiagnostic } from './diagnostics';
import { compileFiles } from './load';

const catalogue = defaultCatalogue();
const UNSAFE = join(__dirname, '__fixtures__', 'unsafe');
const TRICKY = join(__dirname, '__fixtures__', 'tricky');

const unsafe = readdirSync(UNSAFE)
  .sort()
  .flatMap((property) =>
    readdirSync(join(UNSAFE, property))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => ({ property, file: join(UNSAFE, property, f), name: `${property}/${f}` })),
  );
const tricky = readdirSync(TRICKY)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join(TRICKY, f));

/** Minimum cases per property (issue 15: several per property, at least 150 in all). */
const MIN_PER_PROPERTY = 10;

describe('the unsafe catalogue is refused with the right code on the right line', () => {
  it('has at least 150 cases, at least 10 for each property', () => {
    expect(unsafe.length).toBeGreaterThanOrEqual(150);
    const perProperty = new Map<string, number>();
    for (const u of unsafe) perProperty.set(u.property, (perProperty.get(u.property) ?? 0) + 1);
    for (const [property, n] of perProperty)
      expect({ property, n: Math.min(n, MIN_PER_PROPERTY) }).toEqual({
        property,
        n: MIN_PER_PROPERTY,
      });
  });

  it.each(unsafe.map((u) => [u.name, u] as const))('%s', (_name, u) => {
    const head = readFileSync(u.file, 'latin1').split('\n').slice(0, 5).join('\n');
    const m = /^# expect: (FP\d{4}) at (\d+)$/m.exec(head);
    if (m === null) throw new Error(`${u.name} has no '# expect: FP2xxx at <line>' header`);
    const [, code, line] = m;
    const [d] = compileFiles([u.file], catalogue);
    if (d === undefined) throw new Error('no result');
    const shown = d.diagnostics.map(formatDiagnostic);
    expect({ ok: d.ok, codes: [...new Set(d.diagnostics.map((x) => x.code))] }).toEqual({ ok: false, codes: [code] });
    expect({ lines: d.diagnostics.map((x) => x.line), shown }).toEqual({
      lines: expect.arrayContaining([Number(line)]) as unknown,
      shown,
    });
    // Every diagnostic names the file and position, and says what to do.
    for (const x of d.diagnostics) {
      expect(x.line).toBeGreaterThan(0);
      expect(x.column).toBeGreaterThan(0);
      expect(x.message.length).toBeGreaterThan(10);
    }
  });
});

describe('tricky but valid definitions compile', () => {
  it('has at least 30 of them', () => {
    expect(tricky.length).toBeGreaterThanOrEqual(30);
  });

  it.each(tricky)('%s', (file) => {
    const [d] = compileFiles([file], catalogue);
    expect(d?.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(d?.ok).toBe(true);
  });
});
