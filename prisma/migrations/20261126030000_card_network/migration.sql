-- Card network gateway: reversal store-and-forward queue, request journal, reconciliation exceptions.
CREATE TYPE "card_network_reversal_status" AS ENUM ('armed', 'pending', 'done', 'expired', 'cancelled');

CREATE TABLE "card_network_reversal" (
    "key" VARCHAR(200) NOT NULL,
    "status" "card_network_reversal_status" NOT NULL,
    "original_mti" CHAR(4) NOT NULL,
    "processing_code" CHAR(6) NOT NULL,
    "amount" CHAR(12) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "stan" CHAR(6) NOT NULL,
    "transmission_date_time" CHAR(10) NOT NULL,
    "terminal_id" VARCHAR(8) NOT NULL,
    "merchant_id" VARCHAR(15) NOT NULL,
    "acquirer_id" VARCHAR(11) NOT NULL,
    "forwarding_id" VARCHAR(11) NOT NULL,
    "reason_code" CHAR(2) NOT NULL,
    "masked_pan" VARCHAR(19),
    "attempts" INTEGER NOT NULL,
    "deadline_at" TIMESTAMPTZ(6) NOT NULL,
    "next_attempt_at" TIMESTAMPTZ(6) NOT NULL,
    "lease_until" TIMESTAMPTZ(6),
    "last_response_code" VARCHAR(2),
    "last_error" VARCHAR(200),
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "card_network_reversal_pkey" PRIMARY KEY ("key")
);
CREATE INDEX "card_network_reversal_status_next_attempt_at_idx" ON "card_network_reversal"("status", "next_attempt_at");
CREATE INDEX "card_network_reversal_status_deadline_at_idx" ON "card_network_reversal"("status", "deadline_at");

CREATE TABLE "card_network_request" (
    "key" VARCHAR(200) NOT NULL,
    "request_hash" CHAR(64) NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "result" JSONB,
    "created_at" TIMESTAMPTZ(6) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "card_network_request_pkey" PRIMARY KEY ("key")
);

CREATE TABLE "card_network_recon_exception" (
    "id" BIGSERIAL NOT NULL,
    "batch_id" VARCHAR(64) NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "key" VARCHAR(64) NOT NULL,
    "ledger" JSONB,
    "network" JSONB,
    "resolved" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "card_network_recon_exception_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "card_network_recon_exception_batch_id_resolved_idx" ON "card_network_recon_exception"("batch_id", "resolved");
