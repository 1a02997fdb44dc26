import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixpayError, findResultCode, isFixpayError, resultCode, resultCodes } from './errors';

const DOC = join(__dirname, '..', 'docs', 'errors.md');
const BEGIN = '<!-- catalogue:begin -->';
const END = '<!-- catalogue:end -->';

function renderTable(): string {
  const rows = resultCodes.map(
    (e) => `| ${e.code} | \`${e.name}\` | ${e.message} | ${e.httpStatus} | ${e.retryable ? 'yes' : 'no'} |`,
  );
  return ['| code | name | message | HTTP | retryable |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

describe('result-code catalogue', () => {
  it('has unique codes and names in ascending order', () => {
    const codes = resultCodes.map((e) => e.code);
    const names = resultCodes.map((e) => e.name);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(names).size).toBe(names.length);
    for (const e of resultCodes) expect(e.code).toMatch(/^FP\d{4}$/);
  });

  it('is listed in docs/errors.md exactly (run with UPDATE_ERRORS_DOC=1 to rewrite the table)', () => {
    const doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const table = doc.slice(start + BEGIN.length, end).trim();
    const expected = renderTable();
    if (table !== expected && process.env['UPDATE_ERRORS_DOC'] === '1') {
      writeFileSync(DOC, `${doc.slice(0, start + BEGIN.length)}\n${expected}\n${doc.slice(end)}`);
      return;
    }
    expect(table).toBe(expected);
  });

  it('builds errors that carry code, status and retryability', () => {
    const e = new FixpayError('NOT_FOUND', 'terminal T1');
    expect(e.code).toBe('FP1004');
    expect(e.httpStatus).toBe(404);
    expect(e.message).toBe('The resource does not exist: terminal T1');
    expect(isFixpayError(e, 'NOT_FOUND')).toBe(true);
    expect(isFixpayError(e, 'CONFLICT')).toBe(false);
    expect(resultCode('TIMEOUT').retryable).toBe(true);
    expect(findResultCode('FP9999')).toBeUndefined();
  });
});
