import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { compileFiles } from './load';

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
});
