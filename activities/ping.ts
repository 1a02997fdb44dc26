/** Activities of the ping workflow, from a factory like every activity set (STYLE item 5). */
export interface PingDeps {
  /** Who answers; the worker passes its node name. */
  readonly responder: string;
}

export interface PingActivities {
  ping(message: string): Promise<string>;
}

export function createPingActivities(deps: PingDeps): PingActivities {
  return {
    ping: (message) => Promise.resolve(`pong from ${deps.responder}: ${message}`),
  };
}
