/**
 * Amounts on phone prompts and receipts are shown in major units with the currency's exponent
 * (`PAY 45.50 + FEE 1.00?`): every shipped definition formats an amount or a fee it shows through
 * `money(x, currency)`, never as raw minor units, and the compiled prompt reads so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { evaluate, parseTemplate } from '../runtime/expr';
import { compileFiles, definitionFiles } from './load';

const DIR = join(__dirname, '..', '..', 'definitions');
const files = definitionFiles(DIR);

/** Prompt texts and receipt lines of a definition's source (the strings a person reads). */
function shownTexts(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/prompt: '([^']*)'/g)) out.push(m[1] ?? '');
  for (const m of text.matchAll(/lines:\s*\[([^\]]*)\]/g))
    for (const l of (m[1] ?? '').matchAll(/'([^']*)'/g)) out.push(l[1] ?? '');
  return out;
}

describe('money on prompts and receipts', () => {
  it('every shipped definition still compiles', () => {
    const defs = compileFiles(files, defaultCatalogue());
    expect(defs.filter((d) => d.plan === null).map((d) => d.file)).toEqual([]);
  });

  it.each(files.map((f) => [f.slice(DIR.length + 1), f] as const))(
    '%s shows every amount and fee through money(x, currency)',
    (_name, file) => {
      const texts = shownTexts(readFileSync(file, 'utf8'));
      for (const t of texts)
        for (const ref of t.matchAll(/\$\{([^}]*)\}/g)) {
          const expr = ref[1] ?? '';
          if (/amount|fee|total/i.test(expr))
            expect([t, expr]).toEqual([t, expect.stringMatching(/^money\(.+, .+\)$/)]);
        }
    },
  );

  it('the shipped prompts read in major units: a bill, a ticket, a card transfer', () => {
    const bill = readFileSync(join(DIR, 'bill-payment.yaml'), 'utf8');
    const prompt = /prompt: '([^']*)'/.exec(bill)?.[1] ?? '';
    const scope = { input: {}, vars: { amount: 4550 }, steps: { inquiry: { fee: 100, currency: '156' } } };
    expect(evaluate(parseTemplate(prompt), scope)).toBe('PAY 45.50 + FEE 1.00? 1=YES 2=NO');
    const movie = readFileSync(join(DIR, 'movie-ticket.yaml'), 'utf8');
    const ask = /prompt: '([^']*)'/.exec(movie)?.[1] ?? '';
    expect(
      evaluate(parseTemplate(ask), { input: {}, vars: {}, steps: { hold: { amount: 9000, currency: '156' } } }),
    ).toBe('PAY 90.00? 1=YES 2=NO');
    // A currency without minor units shows none.
    expect(
      evaluate(parseTemplate(ask), { input: {}, vars: {}, steps: { hold: { amount: 9000, currency: 'JPY' } } }),
    ).toBe('PAY 9000? 1=YES 2=NO');
  });
});
