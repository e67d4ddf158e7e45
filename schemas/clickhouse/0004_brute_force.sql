-- brute_force evidence on incidents: failed untrusted logins in the window and the distinct passwords among them.
ALTER TABLE {db}.incidents ADD COLUMN IF NOT EXISTS failures UInt32 DEFAULT 0
;
ALTER TABLE {db}.incidents ADD COLUMN IF NOT EXISTS distinct_passwords UInt32 DEFAULT 0
;
