-- Business core (docs/business-core.md). No key material and no clear PAN: PSAM keys are HSM
-- handles; pan_masked must look like BIN + asterisks + last four.
CREATE TYPE "customer_kind" AS ENUM ('household', 'merchant');
CREATE TYPE "terminal_state" AS ENUM ('registered', 'bound', 'activated', 'in_service', 'suspended', 'retired');
CREATE TYPE "psam_status" AS ENUM ('active', 'blocked', 'retired');
CREATE TYPE "terminal_transaction_status" AS ENUM ('pending', 'authorized', 'completed', 'declined', 'reversed', 'failed');

CREATE TABLE "customer" (
    "id" VARCHAR(32) NOT NULL,
    "kind" "customer_kind" NOT NULL,
    "name" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "customer_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "terminal" (
    "id" CHAR(8) NOT NULL,
    "customer_id" VARCHAR(32) NOT NULL,
    "device_profile_id" VARCHAR(64) NOT NULL,
    "serial_number" VARCHAR(64),
    "state" "terminal_state" NOT NULL,
    "keys_loaded_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "terminal_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "terminal_id_format" CHECK ("id" ~ '^[0-9A-Za-z]{8}$'),
    CONSTRAINT "terminal_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customer"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "terminal_customer_id_idx" ON "terminal"("customer_id");

CREATE TABLE "terminal_state_change" (
    "id" BIGSERIAL NOT NULL,
    "terminal_id" CHAR(8) NOT NULL,
    "event" VARCHAR(32) NOT NULL,
    "from_state" "terminal_state",
    "to_state" "terminal_state" NOT NULL,
    "actor" VARCHAR(128) NOT NULL,
    "occurred_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "terminal_state_change_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "terminal_state_change_terminal_id_fkey" FOREIGN KEY ("terminal_id") REFERENCES "terminal"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "terminal_state_change_terminal_id_occurred_at_idx" ON "terminal_state_change"("terminal_id", "occurred_at");

CREATE TABLE "psam" (
    "psam_no" VARCHAR(20) NOT NULL,
    "status" "psam_status" NOT NULL,
    "key_handle" VARCHAR(128),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "psam_pkey" PRIMARY KEY ("psam_no"),
    CONSTRAINT "psam_no_format" CHECK ("psam_no" ~ '^[0-9A-F]{12,20}$')
);

CREATE TABLE "phone_binding" (
    "id" BIGSERIAL NOT NULL,
    "terminal_id" CHAR(8) NOT NULL,
    "psam_no" VARCHAR(20) NOT NULL,
    "ani" VARCHAR(20) NOT NULL,
    "active" BOOLEAN NOT NULL,
    "bound_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "unbound_at" TIMESTAMPTZ(6),
    CONSTRAINT "phone_binding_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "phone_binding_ani_digits" CHECK ("ani" ~ '^[0-9]{3,20}$'),
    CONSTRAINT "phone_binding_active_unbound" CHECK ("active" = ("unbound_at" IS NULL)),
    CONSTRAINT "phone_binding_terminal_id_fkey" FOREIGN KEY ("terminal_id") REFERENCES "terminal"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "phone_binding_psam_no_fkey" FOREIGN KEY ("psam_no") REFERENCES "psam"("psam_no") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "phone_binding_terminal_id_idx" ON "phone_binding"("terminal_id");
-- One active binding per terminal, per PSAM and per phone number.
CREATE UNIQUE INDEX "phone_binding_active_terminal" ON "phone_binding"("terminal_id") WHERE "active";
CREATE UNIQUE INDEX "phone_binding_active_psam" ON "phone_binding"("psam_no") WHERE "active";
CREATE UNIQUE INDEX "phone_binding_active_ani" ON "phone_binding"("ani") WHERE "active";

CREATE TABLE "bin_route" (
    "id" BIGSERIAL NOT NULL,
    "bin_low" VARCHAR(11) NOT NULL,
    "bin_high" VARCHAR(11) NOT NULL,
    "network" VARCHAR(32) NOT NULL,
    "issuer_id" VARCHAR(32) NOT NULL,
    "gateway_id" VARCHAR(64) NOT NULL,
    "active" BOOLEAN NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "bin_route_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "bin_route_range" CHECK ("bin_low" ~ '^[0-9]{1,11}$' AND "bin_high" ~ '^[0-9]{1,11}$'
        AND length("bin_low") = length("bin_high") AND "bin_low" <= "bin_high")
);
CREATE INDEX "bin_route_bin_low_idx" ON "bin_route"("bin_low");

CREATE TABLE "terminal_transaction" (
    "id" BIGSERIAL NOT NULL,
    "idempotency_key" VARCHAR(255) NOT NULL,
    "terminal_id" CHAR(8) NOT NULL,
    "service_id" VARCHAR(64) NOT NULL,
    "stan" CHAR(6) NOT NULL,
    "rrn" CHAR(12),
    "auth_code" VARCHAR(6),
    "pan_masked" VARCHAR(19),
    "amount" BIGINT NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "status" "terminal_transaction_status" NOT NULL,
    "response_code" VARCHAR(8),
    "result_code" VARCHAR(6),
    "workflow_id" VARCHAR(255),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "terminal_transaction_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "terminal_transaction_stan" CHECK ("stan" ~ '^[0-9]{6}$'),
    -- Never a clear PAN: at most the first six and last four digits, the middle masked.
    CONSTRAINT "terminal_transaction_pan_masked" CHECK ("pan_masked" ~ '^[0-9]{6}[*]{2,9}[0-9]{4}$'),
    CONSTRAINT "terminal_transaction_amount" CHECK ("amount" >= 0),
    CONSTRAINT "terminal_transaction_currency" CHECK ("currency" ~ '^[A-Z]{3}$'),
    CONSTRAINT "terminal_transaction_terminal_id_fkey" FOREIGN KEY ("terminal_id") REFERENCES "terminal"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "terminal_transaction_idempotency_key_key" ON "terminal_transaction"("idempotency_key");
CREATE INDEX "terminal_transaction_terminal_id_created_at_idx" ON "terminal_transaction"("terminal_id", "created_at");

CREATE TABLE "terminal_transaction_status_change" (
    "id" BIGSERIAL NOT NULL,
    "transaction_id" BIGINT NOT NULL,
    "from_status" "terminal_transaction_status",
    "to_status" "terminal_transaction_status" NOT NULL,
    "result_code" VARCHAR(6),
    "occurred_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "terminal_transaction_status_change_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "terminal_transaction_status_change_transaction_id_fkey" FOREIGN KEY ("transaction_id") REFERENCES "terminal_transaction"("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "terminal_transaction_status_change_transaction_id_occurred_at_idx" ON "terminal_transaction_status_change"("transaction_id", "occurred_at");
