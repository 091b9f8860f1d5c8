-- One live insert of collector $1: $2 flows around the simulated time $3 (a few seconds
-- apart), their sizes from $4. Returns the ids (a rolled-back transaction's ids are looked
-- for on the reporting side: they must not be there).
INSERT INTO "flows" ("collector", "ts", "src", "dst", "src_port", "dst_port", "proto", "packets", "bytes")
SELECT $1::pg_catalog.text,
       $3::pg_catalog.timestamptz OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => g * 3),
       '10.1.0.0'::pg_catalog.inet OPERATOR(pg_catalog.+) (($4::pg_catalog.int4 + g) * 7919 % 65536)::pg_catalog.int8,
       '172.16.0.0'::pg_catalog.inet OPERATOR(pg_catalog.+) (($4::pg_catalog.int4 + g) % 4096)::pg_catalog.int8,
       1024 + ($4::pg_catalog.int4 + g) % 60000, (ARRAY[53, 80, 443, 123, 22])[1 + g % 5], 6,
       1 + ($4::pg_catalog.int4 + g) % 40, 64 + (($4::pg_catalog.int4 + g) * 977) % 90000
  FROM pg_catalog.generate_series(1, $2::pg_catalog.int4) AS g
RETURNING "id"
