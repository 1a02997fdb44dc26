/**
 * Worker Versioning (ADR 0022): the central workers of one build form a version of the Worker
 * Deployment `temporal.workerDeployment`; new runs go to the deployment's current version and each
 * run stays pinned to the version it started on. These helpers read the deployment, make a build
 * current and count the open runs still pinned to a build, over the frontend's gRPC API.
 */
import type { Client } from '@temporalio/client';

/** A client or a worker's native connection: anything with the frontend's gRPC service. */
export type FrontendService = Pick<Client, 'workflowService'>;
import { FixpayError } from '../../domain/errors';

export interface DeploymentVersionView {
  readonly buildId: string;
  /** INACTIVE, CURRENT, RAMPING, DRAINING, DRAINED (the server's words, without the prefix). */
  readonly status: string;
  readonly createdAt?: string;
}

export interface DeploymentView {
  readonly name: string;
  readonly currentBuildId?: string;
  readonly rampingBuildId?: string;
  readonly versions: readonly DeploymentVersionView[];
}

/** Build ids and deployment names the platform accepts (the config schema's patterns). */
export const BUILD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$/;
export const DEPLOYMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** gRPC status code of an error from the frontend, when it has one. */
function grpcCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;

const millis = (t: { seconds?: unknown; nanos?: unknown } | null | undefined): string | undefined => {
  if (t === null || t === undefined) return undefined;
  const seconds = Number(t.seconds ?? 0);
  return new Date(seconds * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6)).toISOString();
};

function statusName(value: unknown): string {
  const names = ['UNSPECIFIED', 'INACTIVE', 'CURRENT', 'RAMPING', 'DRAINING', 'DRAINED'];
  return typeof value === 'number' ? (names[value] ?? 'UNSPECIFIED') : 'UNSPECIFIED';
}

/** The deployment's versions and routing; undefined when no worker of it has polled yet. */
export async function describeDeployment(
  client: FrontendService,
  namespace: string,
  name: string,
): Promise<DeploymentView | undefined> {
  if (!DEPLOYMENT_NAME_PATTERN.test(name)) throw new FixpayError('BAD_REQUEST', `deployment name ${name}`);
  try {
    const r = await client.workflowService.describeWorkerDeployment({ namespace, deploymentName: name });
    const info = r.workerDeploymentInfo;
    const routing = info?.routingConfig;
    const current = routing?.currentDeploymentVersion?.buildId ?? undefined;
    const ramping = routing?.rampingDeploymentVersion?.buildId ?? undefined;
    return {
      name,
      ...(current ? { currentBuildId: current } : {}),
      ...(ramping ? { rampingBuildId: ramping } : {}),
      versions: (info?.versionSummaries ?? []).map((v) => {
        const createdAt = millis(v.createTime);
        return {
          buildId: v.deploymentVersion?.buildId ?? '',
          status: statusName(v.status),
          ...(createdAt === undefined ? {} : { createdAt }),
        };
      }),
    };
  } catch (e) {
    if (grpcCode(e) === NOT_FOUND) return undefined;
    throw e;
  }
}

/**
 * Makes `buildId` the deployment's current version: new runs go to it. The version exists once a
 * worker of that build has polled; until then the server refuses and this retries, up to `waitMs`.
 */
export async function setCurrentBuild(
  client: FrontendService,
  o: { namespace: string; deployment: string; buildId: string; identity: string; waitMs?: number },
): Promise<void> {
  if (!BUILD_ID_PATTERN.test(o.buildId)) throw new FixpayError('BAD_REQUEST', `build id ${o.buildId}`);
  if (!DEPLOYMENT_NAME_PATTERN.test(o.deployment)) throw new FixpayError('BAD_REQUEST', `deployment ${o.deployment}`);
  const deadline = Date.now() + (o.waitMs ?? 30_000);
  for (;;) {
    try {
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: o.namespace,
        deploymentName: o.deployment,
        buildId: o.buildId,
        identity: o.identity,
      });
      return;
    } catch (e) {
      const code = grpcCode(e);
      if ((code !== NOT_FOUND && code !== FAILED_PRECONDITION) || Date.now() > deadline) {
        if (code === NOT_FOUND || code === FAILED_PRECONDITION)
          throw new FixpayError(
            'OPS_VERSION_UNKNOWN',
            `no worker of build ${o.buildId} has polled deployment ${o.deployment} (start one first)`,
            { cause: e },
          );
        throw e;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Open runs pinned to (or last run on) `buildId`, from visibility (a few seconds behind). */
export async function openRunsOnBuild(
  client: FrontendService,
  namespace: string,
  deployment: string,
  buildId: string,
): Promise<number> {
  if (!BUILD_ID_PATTERN.test(buildId)) throw new FixpayError('BAD_REQUEST', `build id ${buildId}`);
  const r = await client.workflowService.countWorkflowExecutions({
    namespace,
    query: `TemporalWorkerDeploymentVersion = '${deployment}:${buildId}' AND ExecutionStatus = 'Running'`,
  });
  return Number(r.count);
}

/**
 * The first build of a deployment makes itself current (nothing would route runs to it otherwise);
 * later builds wait for the operator (`fixpay ops deployment set-current`). Returns true when this
 * call made `buildId` current.
 */
export async function becomeCurrentIfNone(
  client: FrontendService,
  o: { namespace: string; deployment: string; buildId: string; identity: string; waitMs?: number },
): Promise<boolean> {
  const deadline = Date.now() + (o.waitMs ?? 60_000);
  // The deployment appears once this worker's first poll reaches the server.
  let view = await describeDeployment(client, o.namespace, o.deployment);
  while (view === undefined && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    view = await describeDeployment(client, o.namespace, o.deployment);
  }
  if (view?.currentBuildId !== undefined) return false;
  await setCurrentBuild(client, { ...o, waitMs: Math.max(1_000, deadline - Date.now()) });
  return true;
}
