-- Partner platform (docs/partners.md, ADR 0014). API keys are stored as the SHA-256 of the token
-- only; webhook signing secrets are derived from the platform secret and never stored.
CREATE TYPE "partner_key_mode" AS ENUM ('test', 'live');
CREATE TYPE "partner_bill_status" AS ENUM ('open', 'paid', 'cancelled');
CREATE TYPE "webhook_delivery_status" AS ENUM ('pending', 'delivered', 'failed');

CREATE TABLE "partner" (
    "id" VARCHAR(32) NOT NULL,
    "name" VARCHAR(128) NOT NULL,
    "email" VARCHAR(254) NOT NULL,
    "legal_name" VARCHAR(128),
    "country" CHAR(2),
    "terms_accepted_at" TIMESTAMPTZ(6),
    "webhook_url" VARCHAR(2048),
    "webhook_secret_version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "partner_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "partner_api_key" (
    "id" VARCHAR(32) NOT NULL,
    "partner_id" VARCHAR(32) NOT NULL,
    "mode" "partner_key_mode" NOT NULL,
    "prefix" VARCHAR(32) NOT NULL,
    "secret_hash" CHAR(64) NOT NULL,
    "scopes" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(6),
    "revoked_at" TIMESTAMPTZ(6),
    "rotated_to" VARCHAR(32),
    CONSTRAINT "partner_api_key_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "partner_api_key_secret_hash_format" CHECK ("secret_hash" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT "partner_api_key_partner_id_fkey" FOREIGN KEY ("partner_id") REFERENCES "partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "partner_api_key_secret_hash_key" ON "partner_api_key"("secret_hash");
CREATE INDEX "partner_api_key_partner_id_idx" ON "partner_api_key"("partner_id");

CREATE TABLE "partner_bill" (
    "id" VARCHAR(32) NOT NULL,
    "partner_id" VARCHAR(32) NOT NULL,
    "mode" "partner_key_mode" NOT NULL,
    "customer_ref" VARCHAR(64) NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "description" VARCHAR(256) NOT NULL,
    "due_date" CHAR(10),
    "status" "partner_bill_status" NOT NULL,
    "paid_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "partner_bill_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "partner_bill_amount_positive" CHECK ("amount_minor" > 0),
    CONSTRAINT "partner_bill_currency_format" CHECK ("currency" ~ '^[A-Z]{3}$'),
    CONSTRAINT "partner_bill_partner_id_fkey" FOREIGN KEY ("partner_id") REFERENCES "partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "partner_bill_partner_id_mode_created_at_idx" ON "partner_bill"("partner_id", "mode", "created_at");
CREATE INDEX "partner_bill_status_idx" ON "partner_bill"("status");

CREATE TABLE "webhook_delivery" (
    "id" VARCHAR(32) NOT NULL,
    "message_id" VARCHAR(32) NOT NULL,
    "partner_id" VARCHAR(32) NOT NULL,
    "mode" "partner_key_mode" NOT NULL,
    "event_type" VARCHAR(64) NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "webhook_delivery_status" NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "replay_of" VARCHAR(32),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(6),
    CONSTRAINT "webhook_delivery_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_delivery_partner_id_fkey" FOREIGN KEY ("partner_id") REFERENCES "partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "webhook_delivery_partner_id_mode_created_at_idx" ON "webhook_delivery"("partner_id", "mode", "created_at");

CREATE TABLE "webhook_attempt" (
    "delivery_id" VARCHAR(32) NOT NULL,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "status_code" INTEGER,
    "error" VARCHAR(256),
    "duration_ms" INTEGER NOT NULL,
    CONSTRAINT "webhook_attempt_pkey" PRIMARY KEY ("delivery_id", "attempt"),
    CONSTRAINT "webhook_attempt_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "webhook_delivery"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
