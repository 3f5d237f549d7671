-- 004: a new text kind, 'tags': the visual attributes the attribute tagger reads in a clip (adsearch tag; see
-- adsearch/tagger.py). DuckDB cannot alter a CHECK constraint, so the table is rebuilt with the same columns, key and
-- rows (the migration runs in one transaction).

CREATE TABLE texts_004 (
    clip_id     BIGINT NOT NULL,
    kind        VARCHAR NOT NULL CHECK (kind IN ('reference', 'general', 'fine', 'tags', 'asr', 'ocr', 'keywords')),
    text        VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,             -- 'manifest' or the id of the model that wrote it
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    meta        JSON,
    PRIMARY KEY (clip_id, kind, source)
);
INSERT INTO texts_004 (clip_id, kind, text, source, created_at, meta)
    SELECT clip_id, kind, text, source, created_at, meta FROM texts;
DROP TABLE texts;
ALTER TABLE texts_004 RENAME TO texts;
