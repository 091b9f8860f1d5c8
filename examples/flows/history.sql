-- What collector $1 recorded before replication started: $2 flows spread evenly over $4
-- hours from $3 (the initial copy brings them over).
INSERT INTO "flows" ("collector", "ts", "src", "dst", "src_port", "dst_port", "proto", "packets", "bytes")
SELECT $1::pg_catalog.text,
       $3::pg_catalog.timestamptz OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => g::pg_catalog.float8 * $4::pg_catalog.int4 * 3600 / $2::pg_catalog.int4),
       '10.0.0.0'::pg_catalog.inet OPERATOR(pg_catalog.+) (g * 7919 % 65536)::pg_catalog.int8,
       '192.168.0.0'::pg_catalog.inet OPERATOR(pg_catalog.+) (g * 104729 % 4096)::pg_catalog.int8,
       1024 + g * 31 % 60000, (ARRAY[53, 80, 443, 123, 22])[1 + g % 5], (ARRAY[6, 17])[1 + g % 2],
       1 + g % 40, 64 + (g * 977) % 90000
  FROM pg_catalog.generate_series(0, $2::pg_catalog.int4 - 1) AS g
