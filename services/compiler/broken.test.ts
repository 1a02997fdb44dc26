/**
 * Table-driven: every definition in __fixtures__/broken has exactly one defect, named in its
 * `# expect: FP20xx` header and marked `# <- defect` on the line the compiler must point at.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { compileDefinition } from './compile';
import { formatDiagnostic } from './diagnostics';

const DIR = join(__dirname, '__fixtures__', 'broken');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

describe('broken definitions are refused with the right code and line', () => {
  it('has a catalogue of at least 25 broken definitions', () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
  });

  it.each(files)('%s', (file) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const code = /^# expect: (FP2\d{3})$/m.exec(text)?.[1];
    const line = text.split('\n').findIndex((l) => l.includes('# <- defect')) + 1;
    expect(code).toBeDefined();
    expect(line).toBeGreaterThan(0);
    const r = compileDefinition(text, file, { catalogue: defaultCatalogue() });
    expect(r.ok).toBe(false);
    const shown = r.diagnostics.map(formatDiagnostic);
    expect({ file, codes: [...new Set(r.diagnostics.map((d) => d.code))] }).toEqual({ file, codes: [code] });
    expect(r.diagnostics.map((d) => d.line)).toContain(line);
    expect(shown[0]).toMatch(new RegExp(`^${file}:\\d+:\\d+ ${code ?? ''} `));
  });
});
