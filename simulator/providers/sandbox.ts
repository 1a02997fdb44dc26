/**
 * Sandbox rules shared by the biller and top-up simulators (docs/providers.md §Sandbox): the
 * outcome and delay of a payment or top-up are picked from the last digit of the customer
 * reference or phone number, so a test or a demo chooses its case by the number it types.
 */
export type SandboxCase =
  'success' | 'decline' | 'pending-success' | 'pending-failure' | 'timeout' | 'late-callback' | 'no-callback';

/** Last digit → case. 0–3 succeed at once. */
export const SANDBOX_RULES: Readonly<Record<string, SandboxCase>> = {
  '0': 'success',
  '1': 'success',
  '2': 'success',
  '3': 'success',
  '4': 'decline',
  '5': 'pending-success',
  '6': 'pending-failure',
  '7': 'timeout',
  '8': 'late-callback',
  '9': 'no-callback',
};

export function sandboxCase(number: string): SandboxCase {
  return SANDBOX_RULES[number.slice(-1)] ?? 'success';
}

/** Bill fetch rules: a reference starting with 404 has no bill, with 200 is already paid. */
export function billRule(customerRef: string): 'NOT_FOUND' | 'PAID' | 'DUE' {
  if (customerRef.startsWith('404')) return 'NOT_FOUND';
  if (customerRef.startsWith('200')) return 'PAID';
  return 'DUE';
}

/** The amount due on a sandbox bill: 1 000–9 999 minor units, fixed per reference. */
export function billAmount(customerRef: string): number {
  let h = 7;
  for (const c of customerRef) h = (h * 31 + c.charCodeAt(0)) % 9_000;
  return 1_000 + h;
}
