import fc from 'fast-check';
import {
  ExprEvalError,
  ExprSyntaxError,
  ExprTypeError,
  T_ANY,
  checkExpr,
  evaluate,
  parseExpression,
  parseTemplate,
} from './expr';
import type { Expr, VType } from './expr';

const scope = {
  input: { amount: 1250, terminalId: 'T1', tickets: [{ n: 1 }, { n: 2 }], flag: true },
  steps: { auth: { approved: true, responseCode: '00' } },
  vars: { fee: 5 },
};

describe('expression language', () => {
  it.each([
    ['input.amount + vars.fee', 1255],
    ['input.amount * 2 - 1', 2499],
    ['-input.amount', -1250],
    ["steps.auth.responseCode == '00' && steps.auth.approved", true],
    ['!(input.amount > 1000) || false', false],
    ['len(input.tickets) == 2', true],
    ['input.tickets[1].n', 2],
    ['min(input.amount, 10) + max(1, 2)', 12],
    ["string(input.amount) + '/' + input.terminalId", '1250/T1'],
    ["startsWith(input.terminalId, 'T')", true],
    ['isNull(input.missing)', true],
    ['input.missing.deeper', null],
  ])('%s = %j', (src, expected) => {
    expect(evaluate(parseExpression(src), scope)).toEqual(expected);
  });

  it('keeps the type of a lone ${…} and interpolates text otherwise', () => {
    expect(evaluate(parseTemplate('${input.amount}'), scope)).toBe(1250);
    expect(evaluate(parseTemplate('amt ${input.amount} at ${input.terminalId}'), scope)).toBe('amt 1250 at T1');
    expect(evaluate(parseTemplate('literal $${x}'), scope)).toBe('literal ${x}');
  });

  it.each(['input.', '1 +', "'open", 'foo.bar', 'len(1', 'input.amount ==', '(1'])(
    'refuses %j with an offset',
    (src) => {
      expect(() => parseExpression(src)).toThrow(ExprSyntaxError);
    },
  );

  it('type-checks: booleans, integers, enums, and tracks card data', () => {
    const types: Record<string, VType> = {
      amount: { type: 'integer' },
      status: { type: 'string', enum: ['DUE', 'PAID'] },
      pan: { type: 'string', sensitive: 'pan' },
    };
    const resolve = (r: Extract<Expr, { k: 'ref' }>): VType => types[String(r.path[0])] ?? T_ANY;
    expect(checkExpr(parseExpression('input.amount > 3'), resolve).type.type).toBe('boolean');
    expect(() => checkExpr(parseExpression('input.amount && true'), resolve)).toThrow(ExprTypeError);
    expect(() => checkExpr(parseExpression("input.status == 'DUEE'"), resolve)).toThrow(/not one of/);
    expect(checkExpr(parseTemplate('card ${input.pan}'), resolve).sensitive).toEqual(['pan']);
  });

  it('evaluates integer arithmetic exactly and refuses overflow (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: -1e6, max: 1e6 }), (a, b) => {
        const s = { input: { a, b }, steps: {}, vars: {} };
        expect(evaluate(parseExpression('input.a + input.b * 2'), s)).toBe(a + b * 2);
        expect(evaluate(parseExpression('input.a < input.b'), s)).toBe(a < b);
      }),
    );
    expect(() =>
      evaluate(parseExpression('input.a * input.a'), { input: { a: 2 ** 40 }, steps: {}, vars: {} }),
    ).toThrow(/overflow/);
  });

  it('parses any generated comparison of references and literals', () => {
    const atom = fc.oneof(
      fc.integer({ min: 0, max: 99999 }).map(String),
      fc.constantFrom('input.amount', 'vars.fee', 'steps.auth.responseCode', "'x'", 'true'),
    );
    const op = fc.constantFrom('==', '!=', '<', '>=', '&&', '||', '+');
    fc.assert(
      fc.property(atom, op, atom, (l, o, r) => {
        expect(() => parseExpression(`${l} ${o} (${r})`)).not.toThrow();
      }),
    );
  });

  it('reads numbers and seats keyed on a phone pad, and refuses anything else', () => {
    const run = (src: string, keyed: unknown): unknown =>
      evaluate(parseExpression(src), { input: { k: keyed }, steps: {}, vars: {} });
    expect(run('pairs(input.k)', '010713223549')).toEqual([1, 7, 13, 22, 35, 49]);
    expect(run('seats(input.k)', '06010602')).toEqual(['F1', 'F2']);
    expect(run('seats(input.k)', '2699')).toEqual(['Z99']);
    for (const bad of ['', '1', '010', '01a7', ' 0107', '0'.repeat(82)])
      expect(() => run('pairs(input.k)', bad)).toThrow(ExprEvalError);
    for (const bad of ['', '061', '0001', '2701', '0600', 'F1', '06010', '0601'.repeat(21)])
      expect(() => run('seats(input.k)', bad)).toThrow(ExprEvalError);
    expect(() => checkExpr(parseExpression('pairs(1)'), () => ({ type: 'integer' }))).toThrow(ExprTypeError);
    expect(checkExpr(parseExpression('seats(input.k)'), () => ({ type: 'string' })).type).toEqual({
      type: 'array',
      items: { type: 'string' },
    });
  });

  it('money(x, currency) shows minor units in major units with the currency exponent', () => {
    const sc = {
      input: { amount: 4550, fee: 100, small: 5, neg: -1250, cny: '156', jpy: 'JPY', kes: 'kes' },
      steps: {},
      vars: {},
    };
    const run = (src: string): unknown => evaluate(parseTemplate(src), sc);
    expect(run('PAY ${money(input.amount, input.cny)} + FEE ${money(input.fee, input.cny)}?')).toBe(
      'PAY 45.50 + FEE 1.00?',
    );
    expect(run("${money(input.amount, 'CNY')}")).toBe('45.50');
    expect(run('${money(input.amount, input.jpy)}')).toBe('4550');
    expect(run("${money(input.amount, '392')}")).toBe('4550');
    expect(run('${money(input.small, input.kes)}')).toBe('0.05');
    expect(run("${money(0, 'USD')}")).toBe('0.00');
    expect(run("${money(input.neg, 'EUR')}")).toBe('-12.50');
    // Without a currency: two decimals, as before.
    expect(run('${money(input.amount)}')).toBe('45.50');
    // A currency the platform does not know is an error, never a guessed exponent.
    expect(() => run("${money(input.amount, 'XXX')}")).toThrow(ExprEvalError);
    expect(() => run("${money(input.amount, '999')}")).toThrow(/unknown currency '999'/);
    expect(() => run("${money(input.amount, '')}")).toThrow(ExprEvalError);
  });

  it('money() type-checks its amount and its currency', () => {
    const types: Record<string, VType> = { amount: { type: 'integer' }, c: { type: 'string' } };
    const resolve = (r: Extract<Expr, { k: 'ref' }>): VType => types[String(r.path[0])] ?? T_ANY;
    expect(checkExpr(parseExpression('money(input.amount, input.c)'), resolve).type.type).toBe('string');
    expect(() => checkExpr(parseExpression('money(input.c, input.c)'), resolve)).toThrow(/needs an integer/);
    expect(() => checkExpr(parseExpression('money(input.amount, input.amount)'), resolve)).toThrow(
      /currency as a string/,
    );
    expect(() => checkExpr(parseExpression("money(input.amount, 'CNY', 2)"), resolve)).toThrow(
      /optionally, its currency/,
    );
    expect(() => checkExpr(parseExpression('money()'), resolve)).toThrow(/optionally, its currency/);
  });
});
