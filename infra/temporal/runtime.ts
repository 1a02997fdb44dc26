/** Routes the Temporal SDK's own logs into the platform logger, at warn and above by default. */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../logging';

let installed = false;

/** Installs the SDK runtime once per process; later calls are no-ops (the SDK allows one install). */
export function installTemporalRuntime(log: Logger, level: LogLevel = 'WARN'): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const meta = { ...(entry.meta ?? {}), sdk: true };
      if (entry.level === 'ERROR') log.error(meta, entry.message);
      else if (entry.level === 'WARN') log.warn(meta, entry.message);
      else log.debug(meta, entry.message);
    }),
  });
}
