import { isFixpayError } from '../../domain/errors';
import { parseScript } from './script';

const refused = (steps: unknown[]): boolean => {
  try {
    parseScript({ steps });
    return false;
  } catch (e) {
    return isFixpayError(e, 'TERMINAL_SIM_SCRIPT_INVALID');
  }
};

describe('conversation steps of a terminal script (ADR 0018)', () => {
  it('reads menu and service steps with their answers', () => {
    const { steps } = parseScript({
      steps: [
        'sign-on',
        'menu',
        {
          service: {
            code: 'household-bill',
            inputs: { customer: '12345678', amount: 4550 },
            answers: ['1', 'cancel', 'no-answer', 'hang-up', { late: '2' }],
          },
        },
      ],
    });
    expect(steps[1]).toEqual({ step: 'menu' });
    expect(steps[2]).toEqual({
      step: 'service',
      code: 'household-bill',
      inputs: { customer: '12345678', amount: '4550' },
      answers: [{ key: '1' }, 'cancel', { noAnswer: true }, 'hang-up', { noAnswer: true, lateKey: '2' }],
    });
  });

  it('refuses malformed service steps', () => {
    expect(refused([{ service: 'x' }])).toBe(true);
    expect(refused([{ service: { code: 'Bad Code' } }])).toBe(true);
    expect(refused([{ service: { code: 'x', inputs: { __proto__x: '1' } } }])).toBe(true);
    expect(refused([{ service: { code: 'x', inputs: { a: 'bell\u0007' } } }])).toBe(true);
    expect(refused([{ service: { code: 'x', answers: ['yes'] } }])).toBe(true);
    expect(refused([{ service: { code: 'x', answers: 'no-answer' } }])).toBe(true);
    expect(refused([{ service: { code: 'x', extra: 1 } }])).toBe(true);
  });
});
