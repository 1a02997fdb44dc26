/**
 * The lifecycle run sends card commands to `applyCardCommand` by a list of its own (workflow code
 * may not import the activities' values): it must name exactly the card commands.
 */
import { CARD_COMMANDS, isCardCommand, lifecycleWorkflowId, subjectOf } from './terminal-lifecycle';
import { CARD_KINDS } from '../workflows/terminal-lifecycle';

describe('card commands in the lifecycle run', () => {
  it('the workflow routes exactly the card commands to applyCardCommand', () => {
    expect([...CARD_KINDS].sort()).toEqual([...CARD_COMMANDS].sort());
  });

  it('names card subjects without a card number', () => {
    const id = '5b0e4f1e-3c1d-4c55-9d2a-1f0b6a0c8e11';
    expect(subjectOf({ kind: 'blockCard', cardId: id })).toBe(`card:${id}`);
    expect(subjectOf({ kind: 'issueCards', bin: '629999', firstSequence: 1, count: 2, currency: 'CNY' })).toBe(
      'bin:629999',
    );
    expect(subjectOf({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'x' })).toBe(
      'bin:629999-629999',
    );
    expect(lifecycleWorkflowId({ kind: 'reissuePin', cardId: id }, 'r1')).toBe(`lifecycle:card:${id}:reissuePin:r1`);
    expect(isCardCommand({ kind: 'suspend', terminalId: 'T0000001' })).toBe(false);
    expect(isCardCommand({ kind: 'loadCard', cardId: id, amountMinor: 1 })).toBe(true);
  });
});
