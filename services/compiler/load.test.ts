import { copyFileSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { compileFiles, definitionFiles } from './load';

const DEFS = join(__dirname, '..', '..', 'definitions');

describe('compiling a folder', () => {
  it('refuses two files with one service id, pointing at the second one’s metadata.id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-defs-'));
    try {
      const text = readFileSync(join(__dirname, '..', '..', 'definitions', 'mobile-topup.yaml'), 'utf8');
      writeFileSync(join(dir, 'a.yaml'), text);
      writeFileSync(join(dir, 'b.yaml'), text.replace('version: 1.0.0', 'version: 1.0.1'));
      const [a, b] = compileFiles([join(dir, 'a.yaml'), join(dir, 'b.yaml')], defaultCatalogue());
      expect(a?.ok).toBe(true);
      expect(b?.ok).toBe(false);
      const line = text.split('\n').findIndex((l) => l.includes('id: mobile-topup')) + 1;
      expect(b?.diagnostics[0]).toMatchObject({ code: 'FP2026', name: 'DEF_DUPLICATE_SERVICE', line });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a duplicate service id on the new file even when it sorts first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-dup-'));
    try {
      const shipped = join(dir, 'payment.yaml');
      copyFileSync(join(DEFS, 'payment.yaml'), shipped);
      utimesSync(shipped, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
      const copy = join(dir, 'a-payment-copy.yaml');
      writeFileSync(copy, readFileSync(join(DEFS, 'payment.yaml'), 'utf8').replace('version: 1.0.0', 'version: 9.0.0'));
      utimesSync(copy, new Date('2026-06-01T00:00:00Z'), new Date('2026-06-01T00:00:00Z'));
      const [first, second] = compileFiles(definitionFiles(dir), defaultCatalogue());
      expect(first?.file).toBe(copy);
      expect(first?.diagnostics.map((d) => [d.code, d.line])).toEqual([['FP2026', 6]]);
      expect(first?.diagnostics[0]?.message).toContain('choose another metadata.id');
      expect(second).toMatchObject({ file: shipped, ok: true, diagnostics: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
