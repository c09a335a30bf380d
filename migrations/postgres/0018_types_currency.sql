-- The organization's currency (an ISO 4217 code, parsed by
-- `platform::money::Currency`): the one its money is counted in, for
-- rewards and billing.
ALTER TABLE organizations ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD';
