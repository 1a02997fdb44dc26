/**
 * Card services (ADR 0024): what the compiler checks on `terminal.card`, `luhn` inputs and the
 * target card number — it is card data everywhere but in a gateway argument, and only
 * `maskPan(...)` may show it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { compileDefinition } from './compile';

const catalogue = defaultCatalogue();
const TRANSFER = readFileSync(join(__dirname, '..', '..', 'definitions', 'transfer.yaml'), 'utf8');
const compile = (text: string) => compileDefinition(text, 'transfer.yaml', { catalogue });
const names = (text: string): string[] => compile(text).diagnostics.map((d) => `${d.name}: ${d.message}`);

describe('card services in definitions', () => {
  it('transfer.yaml compiles into a card service with a Luhn-checked target', () => {
    const r = compile(TRANSFER);
    expect(r.diagnostics).toEqual([]);
    if (!r.ok) throw new Error('does not compile');
    expect(r.plan.terminal).toMatchObject({
      card: true,
      inputs: [
        { name: 'target', kind: 'digits', min: 12, max: 19, luhn: true },
        { name: 'amount', kind: 'amount' },
      ],
    });
  });

  it('the target in clear in a prompt is a leak; masked it is not', () => {
    const leak = TRANSFER.replace('TO ${maskPan(input.target)}?', 'TO ${input.target}?');
    expect(leak).not.toBe(TRANSFER);
    expect(names(leak).join('\n')).toMatch(/DEF_SENSITIVE_LEAK/);
  });

  it('the target in clear in a receipt line or the output is a leak', () => {
    const receipt = TRANSFER.replace("'TO ${maskPan(input.target)}',", "'TO ${input.target}',");
    expect(receipt).not.toBe(TRANSFER);
    expect(names(receipt).join('\n')).toMatch(/DEF_SENSITIVE_LEAK/);
    const output = TRANSFER.replace(
      '  output:\n    approved: true',
      '  output:\n    target: ${input.target}\n    approved: true',
    );
    expect(output).not.toBe(TRANSFER);
    expect(names(output).join('\n')).toMatch(/DEF_SENSITIVE_LEAK/);
  });

  it('a card service must declare its request as track 2 card data', () => {
    const plain = TRANSFER.replace('request: { type: string, sensitive: track2 }', 'request: { type: string }');
    expect(plain).not.toBe(TRANSFER);
    expect(names(plain).join('\n')).toMatch(/terminal\.card/);
  });

  it('only a digits input takes a Luhn check', () => {
    const bad = TRANSFER.replace('label: Amount, min: 100', 'label: Amount, luhn: true, min: 100');
    expect(bad).not.toBe(TRANSFER);
    expect(names(bad).join('\n')).toMatch(/Luhn/);
  });

  it('maskPan() needs a string; money() an integer', () => {
    const maskInt = TRANSFER.replace('TO ${maskPan(input.target)}?', 'TO ${maskPan(input.amount)}?');
    expect(names(maskInt).join('\n')).toMatch(/maskPan\(\) needs a string/);
    const moneyText = TRANSFER.replace(
      '${money(input.amount, input.currency)} TO',
      '${money(input.target, input.currency)} TO',
    );
    expect(moneyText).not.toBe(TRANSFER);
    expect(names(moneyText).join('\n')).toMatch(/money\(\) needs an integer/);
  });
});
