/**
 * One activity vocabulary (issue 11): every catalogue entry has exactly one registered
 * implementation — on the central worker or on an access node's lines worker — unless it is in the
 * explicit declared-unimplemented list, and nothing is registered that the catalogue does not
 * declare (besides the platform workflows' own activities).
 */
import { createLineActivities, ResponseBoard } from '../channel-engine/access/handler';
import { catalogueEntries } from '../services/catalogue/entries';
import { DECLARED_UNIMPLEMENTED, PLATFORM_ACTIVITIES } from '../services/catalogue/unimplemented';
import type { PlatformActivityDeps } from './platform-activities';
import { createPlatformActivities } from './platform-activities';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFINITIONS_DIR, deployableDefinitions } from './central';
import { timeoutFigures } from '../channel-engine/access/timeouts';
import { REVERSAL_EXPIRE_AFTER_MS_DEFAULT } from '../gateways/card-network/reversal-forwarder';
import { loadConfig } from '../config';
import { TERMINAL_VERDICT_WINDOW_MS_DEFAULT, timeoutOrderViolations } from '../domain/timeouts';

// The factory only binds functions: nothing is called, so no dependency is used.
const unused = {} as PlatformActivityDeps;
const central = Object.keys(createPlatformActivities({ ...unused, nodeName: 'parity' }));
const lines = Object.keys(createLineActivities({ board: new ResponseBoard() }));
const catalogued = catalogueEntries.map((e) => e.name);
const unimplemented = Object.keys(DECLARED_UNIMPLEMENTED);

describe('the catalogue and the registered activities', () => {
  it('each catalogue entry is implemented exactly once, or declared unimplemented', () => {
    const registered = [...central, ...lines];
    expect(new Set(registered).size).toBe(registered.length);
    const missing = catalogued.filter((n) => !registered.includes(n) && !unimplemented.includes(n));
    expect(missing).toEqual([]);
  });

  it('nothing is registered that the catalogue does not declare (besides the platform workflows’ own)', () => {
    const extra = [...central, ...lines].filter((n) => !catalogued.includes(n) && !PLATFORM_ACTIVITIES.includes(n));
    expect(extra).toEqual([]);
  });

  it('the declared-unimplemented list names catalogue entries that are really not registered', () => {
    expect(unimplemented.filter((n) => !catalogued.includes(n))).toEqual([]);
    expect(unimplemented.filter((n) => central.includes(n) || lines.includes(n))).toEqual([]);
  });

  it('only definitions whose every activity is registered are deployed', () => {
    const { deployable, skipped } = deployableDefinitions(new Set([...central, ...lines]));
    expect(deployable.map((d) => d.plan.serviceId).sort()).toEqual([
      'air-ticket',
      'balance-inquiry',
      'bill-payment',
      'card-load',
      'credit-card-repayment',
      'lottery-ticket',
      'mobile-topup',
      'movie-ticket',
      'partner-bill',
      'purchase',
      'reversal',
      'sign-on',
      'terminal-menu',
      'terminal-notices',
      'transfer',
      'voucher-topup',
    ]);
    expect(skipped.map((s) => s.serviceId).sort()).toEqual(['payment']);
    for (const s of skipped) expect(s.missing.every((n) => unimplemented.includes(n))).toBe(true);
  });

  it('the deployed definitions and the default configuration keep the timeouts in order', () => {
    const { deployable } = deployableDefinitions(new Set([...central, ...lines]));
    const figures = timeoutFigures(
      loadConfig({}),
      deployable.map((d) => d.plan),
      { reversalExpiryMs: REVERSAL_EXPIRE_AFTER_MS_DEFAULT },
    );
    expect(figures.cardNetworkStepMs).toBeDefined();
    expect(figures.deliverStepMs).toBeDefined();
    // The purchase definition's verdict wait is the named limit terminalVerdictWindowMs (ADR 0012).
    expect(figures.terminalVerdictWindowMs).toBe(TERMINAL_VERDICT_WINDOW_MS_DEFAULT);
    expect(figures.reversalExpiryMs).toBeDefined();
    expect(timeoutOrderViolations(figures)).toEqual([]);
  });
});

describe('the central worker deploys against its configured task queue', () => {
  it('deploys a definition on the configured queue, and skips it when the queue is not served', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-central-queue-'));
    try {
      const text = readFileSync(join(DEFINITIONS_DIR, 'sign-on.yaml'), 'utf8');
      writeFileSync(join(dir, 'sign-on.yaml'), text.replace(/^spec:\n/m, 'spec:\n  taskQueue: central-eu\n'));
      const registered = new Set([...central, ...lines]);
      const served = deployableDefinitions(registered, dir, ['central-eu']);
      expect(served.deployable.map((d) => [d.plan.serviceId, d.plan.taskQueue])).toEqual([['sign-on', 'central-eu']]);
      const unserved = deployableDefinitions(registered, dir, ['services']);
      expect(unserved.deployable).toEqual([]);
      expect(unserved.skipped.map((s) => s.file)).toEqual([join(dir, 'sign-on.yaml')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
