/** The workflow bundle's entry: every workflow the central worker runs. */
export { pingWorkflow } from '../workflows/ping';
export { serviceInterpreter } from '../workflows/interpreter';
export { verifyTerminalRequestWorkflow } from '../workflows/verify-request';
export { webhookDeliveryWorkflow } from '../workflows/webhook-delivery';
export { pushCampaignWorkflow } from '../workflows/push-campaign';
export { terminalLifecycleWorkflow } from '../workflows/terminal-lifecycle';
export { operatorActionWorkflow } from '../workflows/operator-action';
