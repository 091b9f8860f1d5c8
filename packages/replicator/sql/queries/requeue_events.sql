-- The requeue handler's events, into local queue $1 in the caller's transaction: types $2
-- (one per event, or one for all), datas $3 as one JSON array (an image, or JSON null for no data: the
-- images travel untouched and are split here), ev_extra1..3 $4..$6 (one per event).
SELECT pgferry.insert_events($1, $2::pg_catalog.text[],
         ARRAY(SELECT CASE WHEN pg_catalog.json_typeof(a.d) <> 'null' THEN a.d::pg_catalog.text END
                 FROM pg_catalog.json_array_elements($3::pg_catalog.json) WITH ORDINALITY AS a(d, i) ORDER BY a.i),
         $4::pg_catalog.text[], $5::pg_catalog.text[], $6::pg_catalog.text[], NULL) AS n
