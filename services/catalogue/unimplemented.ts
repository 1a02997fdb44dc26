/**
 * Catalogue entries declared for definitions that are written ahead of their activities. No worker
 * registers them, so a definition that calls one is not runnable: `fixpay worker` and `fixpay dev`
 * do not deploy it (its compile and `definitions test` still work). A test keeps this list, the
 * catalogue and the registered activities in step (worker/activity-parity.test.ts).
 */
export const DECLARED_UNIMPLEMENTED: Readonly<Record<string, string>> = {
  verifyMac: 'generic MAC check; terminal requests use verifyTerminalMac',
  translatePin: 'generic PIN translation; terminal requests use translateTerminalPin',
  issueTicket:
    'a generic per-ticket issue kept for the compiler fixtures; the ticketing kind uses payTicket/issueTickets',
  cancelTicket: 'the inverse of issueTicket; the ticketing kind refunds with refundTicket',
};

/** Activities the platform's own workflows call (not definitions): registered, not catalogued. */
export const PLATFORM_ACTIVITIES: readonly string[] = [
  'ping',
  'verifyTerminalRequest',
  // workflows/terminal-lifecycle.ts (ADR 0020)
  'applyLifecycleCommand',
  'personaliseTerminal',
  'destroyTerminalKeys',
  // the prepaid programme's commands in the same runs (ADR 0026)
  'applyCardCommand',
];
