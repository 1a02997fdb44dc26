-- A card's number kept for PIN reissue (issue 16): only under the LMK (`Q` + hex of IV, AES-GCM
-- ciphertext and tag), which the HSM alone opens. Cards issued before have none.
ALTER TABLE "prepaid_card" ADD COLUMN "pan_lmk" VARCHAR(128) CHECK ("pan_lmk" ~ '^Q[0-9A-F]{88,94}$');
