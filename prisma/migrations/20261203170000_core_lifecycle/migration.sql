-- Business core lifecycle (ADR 0020, docs/business-core.md): KYC fields as data on the customer,
-- PSAM personalisation (check values only, never key material), pending re-binding requests for a
-- phone heard on a new line, and the audit trail of every lifecycle change.
ALTER TABLE "customer" ADD COLUMN "kyc" JSONB NOT NULL DEFAULT '{}';

ALTER TABLE "psam" ADD COLUMN "kcv" VARCHAR(6);
ALTER TABLE "psam" ADD COLUMN "personalised_at" TIMESTAMPTZ(6);
ALTER TABLE "psam" ADD CONSTRAINT "psam_kcv_format" CHECK ("kcv" IS NULL OR "kcv" ~ '^[0-9A-F]{6}$');

ALTER TABLE "terminal" ADD COLUMN "tmk_kcv" VARCHAR(6);
ALTER TABLE "terminal" ADD CONSTRAINT "terminal_tmk_kcv_format" CHECK ("tmk_kcv" IS NULL OR "tmk_kcv" ~ '^[0-9A-F]{6}$');

CREATE TYPE "rebinding_status" AS ENUM ('pending', 'approved', 'rejected');

CREATE TABLE "rebinding_request" (
    "id" BIGSERIAL NOT NULL,
    "terminal_id" CHAR(8) NOT NULL,
    "ani" VARCHAR(20) NOT NULL,
    "psam_no" VARCHAR(20),
    "status" "rebinding_status" NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "requested_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decided_at" TIMESTAMPTZ(6),
    "decided_by" VARCHAR(128),
    CONSTRAINT "rebinding_request_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "rebinding_request_ani_digits" CHECK ("ani" ~ '^[0-9]{3,20}$'),
    CONSTRAINT "rebinding_request_terminal_fkey" FOREIGN KEY ("terminal_id") REFERENCES "terminal"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
-- One pending request per terminal and line: the phone calling again counts attempts.
CREATE UNIQUE INDEX "rebinding_request_pending_key" ON "rebinding_request"("terminal_id", "ani") WHERE "status" = 'pending';

CREATE TABLE "core_audit" (
    "id" BIGSERIAL NOT NULL,
    "occurred_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" VARCHAR(128) NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "outcome" VARCHAR(64) NOT NULL,
    "detail" JSONB NOT NULL DEFAULT '{}',
    "workflow_id" VARCHAR(255),
    CONSTRAINT "core_audit_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "core_audit_subject_idx" ON "core_audit"("subject", "occurred_at");

-- A personalised PSAM records the real HSM handle (a key block under the LMK), longer than a label.
ALTER TABLE "psam" ALTER COLUMN "key_handle" TYPE VARCHAR(4096);

-- Four-eyes approvals (operator API): a key or card operation waits until a supervisor other than
-- the requester approves it; the command is data (ids, lines), never key material.
CREATE TYPE "operator_approval_status" AS ENUM ('pending', 'approved', 'rejected');

CREATE TABLE "operator_approval" (
    "id" VARCHAR(40) NOT NULL,
    "command" JSONB NOT NULL,
    "requested_by" VARCHAR(128) NOT NULL,
    "status" "operator_approval_status" NOT NULL,
    "decided_by" VARCHAR(128),
    "outcome" JSONB,
    "requested_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decided_at" TIMESTAMPTZ(6),
    CONSTRAINT "operator_approval_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "operator_approval_four_eyes" CHECK ("decided_by" IS NULL OR "decided_by" <> "requested_by")
);
