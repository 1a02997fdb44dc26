-- The purchases waiting for the phone's verdict, per terminal id + STAN (ADR 0012,
-- prisma/schema/terminal-verdicts.prisma). No card data: the request only as its SHA-256 digest.
CREATE TABLE "terminal_verdict" (
    "terminal_id" VARCHAR(16) NOT NULL,
    "stan" VARCHAR(6) NOT NULL,
    "workflow_id" VARCHAR(255),
    "request_digest" VARCHAR(64),
    "state" VARCHAR(16) NOT NULL,
    "answer" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "terminal_verdict_pkey" PRIMARY KEY ("terminal_id", "stan")
);

CREATE INDEX "terminal_verdict_waiting_idx" ON "terminal_verdict" ("terminal_id", "state");
