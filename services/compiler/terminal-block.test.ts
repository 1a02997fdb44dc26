/** `spec.terminal` (ADR 0018): what the compiler accepts and refuses. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { compileDefinition } from './compile';

const FIXTURE = join(__dirname, '..', '..', 'test', 'e2e', '__fixtures__', 'household-bill.yaml');
const base = readFileSync(FIXTURE, 'utf8');
const INPUTS = / {4}inputs:\n( {6}- .*\n)+/;

function compile(text: string): { ok: boolean; names: string[] } {
  const r = compileDefinition(text, 'x.yaml', { catalogue: defaultCatalogue() });
  return { ok: r.ok, names: r.ok ? [] : r.diagnostics.map((d) => d.name) };
}
const withInputs = (lines: string): string => base.replace(INPUTS, `    inputs:\n${lines}`);

describe('spec.terminal', () => {
  it('compiles into the plan', () => {
    const r = compileDefinition(base, 'x.yaml', { catalogue: defaultCatalogue() });
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    expect(r.plan.terminal).toEqual({
      menu: ['Bills', 'Demo bill'],
      title: 'Demo bill',
      profiles: null,
      inputs: [
        { name: 'customer', kind: 'digits', label: 'Customer no', min: 6, max: 12 },
        { name: 'amount', kind: 'amount', label: 'Amount', min: 100, max: 100000 },
      ],
    });
  });

  it.each([
    ['an input the spec does not declare', '      - { name: nope, kind: digits }\n', 'DEF_UNKNOWN_FIELD'],
    ['an amount into a string field', '      - { name: customer, kind: amount }\n', 'DEF_TYPE_MISMATCH'],
    ['a field the access node sets', '      - { name: stan, kind: digits }\n', 'DEF_RESERVED_NAME'],
    ['a prototype name', '      - { name: constructor, kind: digits }\n', 'DEF_RESERVED_NAME'],
    ['a choice without choices', '      - { name: customer, kind: choice }\n', 'DEF_SCHEMA'],
    ['digits with min/max', '      - { name: customer, kind: digits, min: 1 }\n', 'DEF_SCHEMA'],
    ['least above most', '      - { name: customer, kind: digits, minLength: 9, maxLength: 3 }\n', 'DEF_SCHEMA'],
    [
      'the same input twice',
      '      - { name: customer, kind: digits }\n      - { name: customer, kind: digits }\n',
      'DEF_SCHEMA',
    ],
    ['an unknown key', '      - { name: customer, kind: digits, secret: true }\n', 'DEF_UNKNOWN_KEY'],
    [
      'choicesFrom naming no provider data',
      '      - { name: customer, kind: choice, choicesFrom: songs }\n',
      'DEF_SCHEMA',
    ],
    ['choicesFrom on digits', '      - { name: customer, kind: digits, choicesFrom: shows }\n', 'DEF_SCHEMA'],
    [
      'choices and choicesFrom together',
      "      - { name: customer, kind: choice, choicesFrom: shows, choices: [{ key: '1', label: A }] }\n",
      'DEF_SCHEMA',
    ],
    ['a bidi override in a label', '      - { name: customer, kind: digits, label: "a\u202eb" }\n', 'DEF_UNSAFE_TEXT'],
  ])('refuses %s', (_what, lines, name) => {
    expect(compile(withInputs(lines)).names).toContain(name);
  });

  it('refuses a menu path that is empty or too deep', () => {
    expect(compile(base.replace('menu: [Bills, Demo bill]', 'menu: []')).ok).toBe(false);
    expect(compile(base.replace('menu: [Bills, Demo bill]', 'menu: [a, b, c, d]')).ok).toBe(false);
  });

  it('a choice list from provider data compiles into the plan as choicesFrom, with no fixed choices', () => {
    const r = compileDefinition(
      withInputs('      - { name: customer, kind: choice, label: Game, choicesFrom: lotteryGames }\n'),
      'x.yaml',
      { catalogue: defaultCatalogue() },
    );
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
    expect(r.plan.terminal?.inputs).toEqual([
      { name: 'customer', kind: 'choice', label: 'Game', choicesFrom: 'lotteryGames' },
    ]);
  });
});
